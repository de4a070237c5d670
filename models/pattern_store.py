"""The models' findings in PostgreSQL: written once per training by the job, read by ``floyo patterns`` and
``floyo models list`` in milliseconds (loading MLflow artifacts took seconds).

``refresh_patterns`` loads the champions of ``floyo-rules`` and ``floyo-workflows`` once, puts their rules and
workflows in human words (``models.wording``) and replaces the ``patterns``, ``pattern_activity`` and
``model_versions`` rows in one transaction. The readers below import SQLAlchemy only: no MLflow, no polars.

Global rules are everyone's: their rows carry counts and measures only, never one person's times or files (every
user may read them). A user's own rules carry their latest sessions' times and the files behind the rule.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection, Engine, text

from floyo.errors import NotFound
from floyo.settings import Settings, get_settings
from models import wording

GLOBAL_RULES_KEPT = 500  # global rules stored after dropping near-duplicates: nobody reads 5,000
EXAMPLES = 3  # latest sessions shown as a rule's evidence
FILES_PER_EXAMPLE = 3
RULES, WORKFLOWS = "floyo-rules", "floyo-workflows"


def refresh_patterns(engine: Engine, settings: Settings | None = None) -> dict[str, int]:
    """Rewrite what people are shown from the current champions and the lake; counts of what was written.

    A family without a champion keeps no rows (its command then says to train first)."""
    from models import tracking

    settings = settings or get_settings()
    rows: list[dict[str, Any]] = []
    needed: dict[str, Any] = {"rules": {"sessions": settings.rules_user_min_transactions}}
    events = _lake_events(settings)
    rules_version = tracking.champion_version(RULES)
    if rules_version is not None:
        model = tracking.load(RULES).unwrap_python_model().model
        rows += _rule_rows(model.rules, model.per_user, events, version=rules_version)
    workflows_version = tracking.champion_version(WORKFLOWS)
    if workflows_version is not None:
        model = tracking.load(WORKFLOWS).unwrap_python_model().model
        rows += _workflow_rows(model.workflows, version=workflows_version)
        limits = model.limits or {}
        needed["workflows"] = {"occurrences": limits.get("min_support", 10), "days": limits.get("min_days", 3)}
    activity = _activity(events)
    models = tracking.list_models()
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM patterns"))
        if rows:
            conn.execute(
                text(
                    "INSERT INTO patterns (family, user_id, rank, body, model_name, model_version) "
                    "VALUES (:family, :user_id, :rank, CAST(:body AS jsonb), :model_name, :model_version)"
                ),
                rows,
            )
        _write_activity(conn, activity, needed)
        _write_models(conn, models)
    return {
        "rules": sum(r["family"] == "rules" for r in rows),
        "workflows": sum(r["family"] == "workflows" for r in rows),
        "users": len(activity),
        "models": len(models),
    }


def record_models(engine: Engine) -> int:
    """Copy the registry's ``floyo-*`` versions, aliases and metrics to ``model_versions`` (after a training that
    does not refresh the patterns, e.g. ``floyo train --user``); how many versions."""
    from models.tracking import list_models

    models = list_models()
    with engine.begin() as conn:
        _write_models(conn, models)
    return len(models)


def _write_models(conn: Connection, models: list[dict[str, Any]]) -> None:
    conn.execute(text("DELETE FROM model_versions"))
    if models:
        conn.execute(
            text(
                "INSERT INTO model_versions (name, version, aliases, metrics) "
                "VALUES (:name, :version, :aliases, CAST(:metrics AS jsonb))"
            ),
            [{**m, "metrics": json.dumps(m["metrics"])} for m in models],
        )


def _write_activity(conn: Connection, activity: dict[int, dict[str, int]], needed: dict[str, Any]) -> None:
    conn.execute(text("DELETE FROM pattern_activity"))
    known = set(conn.execute(text("SELECT id FROM users")).scalars())
    rows = [{"user_id": u, **a, "needed": json.dumps(needed)} for u, a in activity.items() if u in known]
    if rows:
        conn.execute(
            text(
                "INSERT INTO pattern_activity (user_id, events, sessions, days, needed) "
                "VALUES (:user_id, :events, :sessions, :days, CAST(:needed AS jsonb))"
            ),
            rows,
        )


def _lake_events(settings: Settings) -> Any:
    """The lake's events (a polars LazyFrame) with what evidence and activity need."""
    from features.lake import events

    return events(settings).select("user_id", "ts", "seq", "kind", "path", "ext", "tool")


def _activity(events: Any) -> dict[int, dict[str, int]]:
    """Per user: events, work sessions and distinct days in the lake."""
    import polars as pl

    from features.sessions import assign_sessions

    per_user = (
        assign_sessions(events)
        .group_by("user_id")
        .agg(
            events=pl.len(),
            sessions=pl.col("session_id").n_unique(),
            days=pl.col("ts").dt.date().n_unique(),
        )
        .collect()
    )
    return {int(u): {"events": e, "sessions": s, "days": d} for u, e, s, d in per_user.iter_rows()}


def _rule_rows(
    global_rules: list[dict[str, Any]], per_user: dict[str, list[dict[str, Any]]], events: Any, *, version: str
) -> list[dict[str, Any]]:
    """Rows of ``patterns`` for the rules: the global ones (deduplicated, capped, no evidence) and each user's."""
    own = {int(u): wording.drop_near_duplicates(rules) for u, rules in per_user.items() if str(u).isdigit()}
    files = _evidence_files(events, [k for rules in own.values() for r in rules for k in _latest(r)])
    rows = [
        _row("rules", None, rank, _rule_body(r, {}), RULES, version)
        for rank, r in enumerate(wording.drop_near_duplicates(global_rules)[:GLOBAL_RULES_KEPT], start=1)
    ]
    for user, rules in own.items():
        rows += [_row("rules", user, rank, _rule_body(r, files), RULES, version) for rank, r in enumerate(rules, 1)]
    return rows


def _latest(rule: dict[str, Any]) -> list[str]:
    return list(rule.get("evidence") or [])[-EXAMPLES:]


def _rule_body(rule: dict[str, Any], files: dict[str, dict[str, set[str]]]) -> dict[str, Any]:
    """A rule as a person reads it; with ``files`` (session key → item → paths), its latest sessions' times and the
    files behind the rule's items."""
    from features.sessions import parse_session_key

    items = [*rule["antecedents"], *rule["consequents"]]
    examples = []
    if files:
        for key in reversed(_latest(rule)):
            by_item = files.get(key, {})
            paths = sorted({p for i in items for p in by_item.get(i, ())})[:FILES_PER_EXAMPLE]
            examples.append({"at": parse_session_key(key)[1].isoformat(), "files": paths})
    return {
        "text": wording.rule_sentence(rule["antecedents"], rule["consequents"]),
        "if": sorted(rule["antecedents"]),
        "then": sorted(rule["consequents"]),
        "sessions": int(rule["count"]),
        "support": float(rule["support"]),
        "confidence": float(rule["confidence"]),
        "lift": float(rule["lift"]),
        "examples": examples,
    }


def _evidence_files(events: Any, keys: list[str]) -> dict[str, dict[str, set[str]]]:
    """Session key → rule item (``ext:py``, ``dir:src``, ``run:pytest``) → the session's paths behind it."""
    if not keys:
        return {}
    from features.sessions import session_events

    found = session_events(events, keys).select("session_key", "kind", "path", "ext", "tool").unique().collect()
    out: dict[str, dict[str, set[str]]] = {}
    for key, kind, path, ext, tool in found.iter_rows():
        by_item = out.setdefault(key, {})
        if kind == "run":
            by_item.setdefault(f"run:{tool}", set()).add(f"{tool} (run)")
            continue
        if not path:
            continue
        for item in (f"ext:{ext}" if ext else "", f"dir:{path.split('/')[0]}" if "/" in path else ""):
            if item:
                by_item.setdefault(item, set()).add(path)
    return out


def _workflow_rows(workflows: list[dict[str, Any]], *, version: str) -> list[dict[str, Any]]:
    """Rows of ``patterns`` for each user's workflows, in the model's order."""
    rows: list[dict[str, Any]] = []
    rank: dict[int, int] = {}
    for w in workflows:
        if not str(w["user_id"]).isdigit():  # a log-scoped model keys users by name: not the lake's
            continue
        user = int(w["user_id"])
        rank[user] = rank.get(user, 0) + 1
        body = {
            "text": wording.workflow_sentence(w),
            "steps": w.get("steps") or [w["a"], w["b"]],
            "windows_s": w.get("windows_s") or [w["window_s"]],
            "delays_median_s": w.get("delays_median_s") or [w["delay_median_s"]],
            "occurrences": int(w["support"]),
            "starts": w.get("prefix_support"),
            "confidence": float(w["confidence"]),
            "lift": float(w["lift"]),
            "days": int(w["days"]),
            "last_seen": str(w["last_seen"]),
        }
        rows.append(_row("workflows", user, rank[user], body, WORKFLOWS, version))
    return rows


def _row(family: str, user: int | None, rank: int, body: dict[str, Any], name: str, version: str) -> dict[str, Any]:
    return {
        "family": family,
        "user_id": user,
        "rank": rank,
        "body": json.dumps(body),
        "model_name": name,
        "model_version": version,
    }


# --- reading (SQLAlchemy only)


def find_user(conn: Connection, user: str) -> tuple[int, str]:
    """(id, name) of a user given by name or id; NotFound otherwise."""
    row = conn.execute(
        text("SELECT id, name FROM users WHERE name = :u OR (:u ~ '^[0-9]{1,18}$' AND id = CAST(:u AS bigint))"),
        {"u": user},
    ).first()
    if row is None:
        raise NotFound("no_such_user", f"no user {user!r}")
    return int(row[0]), str(row[1])


def refreshed(conn: Connection, family: str) -> bool:
    """Whether any refresh wrote this family (else there is no champion yet, or no refresh ran)."""
    found = conn.execute(text("SELECT EXISTS (SELECT 1 FROM patterns WHERE family = :f)"), {"f": family})
    return bool(found.scalar_one())


def read_patterns(
    conn: Connection, family: str, *, user_id: int | None, global_limit: int, limit: int | None = None
) -> tuple[list[dict[str, Any]], int]:
    """A user's own patterns (rank order) then at most ``global_limit`` global ones; without a user, the global
    ones (and for workflows, which are all personal, everyone's). Each row: ``scope``, ``user``, the body, the
    model. Also how many global rows were left out."""
    base = (
        "SELECT p.user_id, u.name, p.rank, p.body, p.model_name, p.model_version, p.refreshed_at "
        "FROM patterns p LEFT JOIN users u ON u.id = p.user_id WHERE p.family = :f "
    )
    params: dict[str, Any] = {"f": family, "u": user_id, "g": global_limit, "n": limit}
    if user_id is not None:
        own = conn.execute(text(base + "AND p.user_id = :u ORDER BY p.rank LIMIT :n"), params).all()
        shared = conn.execute(text(base + "AND p.user_id IS NULL ORDER BY p.rank LIMIT :g"), params).all()
    elif family == "workflows":
        own = conn.execute(text(base + "AND p.user_id IS NOT NULL ORDER BY u.name, p.rank LIMIT :n"), params).all()
        shared = []
    else:
        own, shared = [], conn.execute(text(base + "AND p.user_id IS NULL ORDER BY p.rank LIMIT :g"), params).all()
    total_global = conn.execute(
        text("SELECT count(*) FROM patterns WHERE family = :f AND user_id IS NULL"), params
    ).scalar_one()
    out = [
        {
            "scope": "user" if u is not None else "global",
            "user": name,
            "rank": rank,
            **body,
            "model": {"name": model, "version": version, "refreshed_at": at.isoformat()},
        }
        for u, name, rank, body, model, version, at in [*own, *shared]
    ]
    return out, int(total_global) - len(shared)


def read_activity(conn: Connection, user_id: int) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """What the last refresh saw of a user (None: nothing), and what a personal pattern needs."""
    row = conn.execute(
        text("SELECT events, sessions, days, needed FROM pattern_activity WHERE user_id = :u"), {"u": user_id}
    ).first()
    if row is not None:
        return {"events": row[0], "sessions": row[1], "days": row[2]}, dict(row[3])
    anyone = conn.execute(text("SELECT needed FROM pattern_activity LIMIT 1")).scalar_one_or_none()
    return None, dict(anyone or {"rules": {"sessions": get_settings().rules_user_min_transactions}})


def read_models(conn: Connection) -> list[dict[str, Any]]:
    """The registered models as the last refresh recorded them (name, then version number)."""
    rows = conn.execute(
        text(
            "SELECT name, version, aliases, metrics, refreshed_at FROM model_versions "
            "ORDER BY name, CASE WHEN version ~ '^[0-9]{1,9}$' THEN CAST(version AS integer) END, version"
        )
    )
    return [
        {"name": n, "version": v, "aliases": list(a), "metrics": dict(m), "refreshed_at": at.isoformat()}
        for n, v, a, m, at in rows
    ]
