"""``floyo patterns``: the rules and workflows found in an event log, for everyone or one user, with evidence.

With ``--events`` it mines an event log in the CSV format of ``docs/data.md`` afresh (a transaction is
one commit); otherwise it reads what the registered champions of ``floyo-rules`` and ``floyo-workflows`` found.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from floyo.errors import NotFound
from models.eventlog import read_event_log
from models.rules import RuleLimits, mine_rules
from models.workflows import WorkflowLimits, action_items, json_safe, mine_workflows


def log_transactions(events: pl.DataFrame) -> pl.DataFrame:
    """``transaction_id, item`` rows: each commit's extensions (``ext:py``) and top folders (``dir:src``)."""
    ext = pl.lit("ext:") + pl.when(pl.col("ext") == "").then(pl.lit("(none)")).otherwise(pl.col("ext"))
    folder = pl.lit("dir:") + pl.col("path").str.split("/").list.first()
    has_dir = pl.col("path").str.contains("/", literal=True)
    return pl.concat(
        [
            events.select(pl.col("group").alias("transaction_id"), ext.alias("item")),
            events.filter(has_dir).select(pl.col("group").alias("transaction_id"), folder.alias("item")),
        ]
    ).unique(maintain_order=True)


def _events(path: Path, user: str | None) -> pl.DataFrame:
    events = read_event_log(path)
    if user is not None:
        events = events.filter(pl.col("user_id") == user)
        if events.is_empty():
            raise NotFound("no_such_user", f"no events of user {user!r} in {path}")
    return events


def rules_in_log(path: Path, *, user: str | None = None, limits: RuleLimits | None = None) -> list[dict[str, Any]]:
    """Association rules between the items of the log's commits (one user's, or everyone's)."""
    found = mine_rules(log_transactions(_events(path, user)), limits=limits)
    return found.rules.to_dicts()


def workflows_in_log(
    path: Path, *, user: str | None = None, limits: WorkflowLimits | None = None
) -> list[dict[str, Any]]:
    """Workflows "A, then B within N s (then C…)" in the log (one user's, or everyone's per user)."""
    found = json_safe(mine_workflows(action_items(_events(path, user)), limits=limits))
    return found.with_columns(pl.col("last_seen").dt.to_string("%Y-%m-%dT%H:%M:%SZ")).to_dicts()


def describe_workflow(w: dict[str, Any]) -> str:
    """One line: every step with its window and median delay, then support, confidence, lift and evidence."""
    steps = w.get("steps") or [w["a"], w["b"]]  # a champion mined before chains has pairs only
    windows = w.get("windows_s") or [w["window_s"]]
    medians = w.get("delays_median_s") or [w["delay_median_s"]]
    path = steps[0] + "".join(
        f" -> {s} within {win:.0f} s (median {d:.0f} s)" for s, win, d in zip(steps[1:], windows, medians, strict=True)
    )
    prefix = f" of {w['prefix_support']}" if "prefix_support" in w else ""
    return (
        f"{w.get('user', w['user_id'])}: {path}: {w['support']} times{prefix}, confidence {w['confidence']:.2f} "
        f"lift {w['lift']:.1f}, on {w['days']} days, last {w['last_seen']}"
    )


def champion_findings(name: str) -> Any:
    """The ``RulesModel`` or ``WorkflowsModel`` that the registered model's champion holds."""
    from models import tracking

    if tracking.champion_version(name) is None:
        raise NotFound("no_champion", f"{name} has no champion yet: run `floyo train`")
    return tracking.load(name).unwrap_python_model().model


def _user_key(user: str, known: set[str]) -> str:
    """The key the models use for a user: as given when known, else the id of the user of that name."""
    if user in known:
        return user
    from floyo.settings import get_settings
    from models.users import resolve_user

    return str(resolve_user(user, get_settings()))


def champion_workflows(*, user: str | None = None) -> list[dict[str, Any]]:
    """The champion's workflows: one user's, or everyone's, with support, delays, days and last seen; ``user`` is
    the user's name (the lake knows users by id)."""
    model = champion_findings("floyo-workflows")
    key = None if user is None else _user_key(user, {w["user_id"] for w in model.workflows})
    names = _user_names()
    return [{**w, "user": names.get(str(w["user_id"]), str(w["user_id"]))} for w in model.for_user(key)]


def _user_names() -> dict[str, str]:
    from models.users import user_names

    return user_names()
