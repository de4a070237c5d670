"""Candidates x catalog -> suggestions: stable id, words, pattern, evidence, measured savings, workflow, score.

``build_suggestions(candidates, activity)`` turns ``serving.candidates.mine_candidates``'s rows into the
dicts the API serves (docs/models.md, "Suggestions"). Nothing here is a constant per suggestion: savings are
the person's own occurrences per week times the seconds each occurrence costs them (the measured delay before
they act and the run's measured median duration, where the catalog entry counts them, plus the entry's
documented per-run effort); the transparent score combines confidence, lift, savings, days and recency.
"""

from __future__ import annotations

import hashlib
import math
import re
from datetime import datetime
from typing import Any

import polars as pl

from floyo.workflow_definition import inside_root
from serving.candidates import MOVE_TO
from serving.catalog import Catalog, Entry, default_catalog

# the transparent score: weights of its five terms (they sum to 1) and the scales of the saturating terms
WEIGHTS = {"confidence": 0.30, "lift": 0.15, "savings": 0.25, "days": 0.15, "recency": 0.15}
LIFT_FULL = 10.0  # lift at which the lift term reaches 1 (log scale from 1)
MINUTES_SCALE = 10.0  # minutes a week at which the savings term is 1 - 1/e
DAYS_SCALE = 7.0  # distinct days at which the days term is 1 - 1/e
RECENCY_HALF_DAYS = 14.0 * math.log(2)  # e-folding of 14 days: last seen 14 days before the user's latest event -> 1/e
MIN_WEEKS = 1.0  # a user observed for less than a week is not extrapolated to a week
SHAPE_ACTION = {"file_run": "run", "file_run_file": "run", "create_move": "move", "file_copy": "copy"}


def suggestion_id(user_id: object, template: str, pattern_key: str) -> str:
    """The stable id: the same user, template and pattern keep it across refreshes (and never collide across users)."""
    return "s_" + hashlib.sha256(f"{user_id}\x1f{template}\x1f{pattern_key}".encode()).hexdigest()[:16]


def pattern_key(row: dict[str, Any]) -> str:
    """The canonical text of a candidate's pattern: its items, or the run for long runs and schedules."""
    if row["shape"] == "schedule":
        return f"run {row['tool']} on a schedule"
    if row["shape"] == "long_run":
        return f"run {row['tool']} lasting minutes"
    return " > ".join(row["steps"])


def _iso(ts: datetime | None) -> str | None:
    return None if ts is None else ts.strftime("%Y-%m-%dT%H:%M:%SZ")


def human_seconds(seconds: float) -> str:
    """``20 s``, ``2 min``, ``1.5 h``: how a person says a duration."""
    if seconds < 90:
        return f"{round(seconds)} s"
    if seconds < 5400:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"


def _r(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(float(value), digits)


def _safe_rel(value: str | None) -> str:
    """A folder usable as ``cwd``: the measured one when it stays inside the root, else the root itself."""
    if not value:
        return "."
    try:
        return inside_root(value, "cwd")
    except ValueError:
        return "."


def _steps(row: dict[str, Any]) -> list[dict[str, Any]]:
    """The pattern's steps, each with its window and median/p90 delay after the one before."""
    shape = row["shape"]
    if shape == "schedule":
        every = "weekdays" if row["weekdays_only"] else "every day"
        return [{"action": "run", "tool": row["tool"], "at": _at(row), "days": every}]
    if shape == "long_run":
        return [{"action": "run", "tool": row["tool"], "duration_median_s": _r(row["duration_median_s"]),
                 "duration_p90_s": _r(row["duration_p90_s"])}]  # fmt: skip
    out: list[dict[str, Any]] = []
    for k, item in enumerate(row["steps"]):
        kind, _, body = item.partition(" ")
        step: dict[str, Any]
        if kind == "run":
            step = {"action": "run", "tool": body}
        else:
            where, _, dest = body.partition(MOVE_TO)
            root, _, glob = where.partition(":")
            step = {"action": kind, "glob": glob, "root": root}
            if kind == "move":
                step["dest"] = dest
        if k > 0:
            step |= {"window_s": row["windows_s"][k - 1], "delay_median_s": _r(row["delays_median_s"][k - 1]),
                     "delay_p90_s": _r(row["delays_p90_s"][k - 1])}  # fmt: skip
        out.append(step)
    return out


def _at(row: dict[str, Any]) -> str:
    return f"{row['at_hour']:02d}:{row['at_minute']:02d}"


def _values(row: dict[str, Any], delay_s: float | None) -> dict[str, Any]:
    """The catalog placeholders for one candidate."""
    tool = row["tool"] or ""
    folder = row["folder"] or ""
    cwd = _safe_rel(row["cwd"])
    p90 = row["duration_p90_s"]
    timeout = 300 if p90 is None else int(min(86_400, max(60, math.ceil(p90 * 3))))
    verb = "add" if row["trigger_kind"] == "create" else "save"
    weekdays = bool(row["weekdays_only"])
    at = _at(row) if row["at_hour"] is not None else "00:00"
    dest = row["dest"] if row["dest"] is not None else ""
    then = f"run {tool}" if row["shape"] == "file_run" else f"copy them to {dest or '.'}/"
    return {
        "root": row["root"] or "home", "glob": row["glob"] or "*", "folder": f"{folder}/" if folder else "the top folder",
        "ext": row["ext"] or "", "events": [row["trigger_kind"] or "modify"], "verb": verb, "verbed": f"{verb}ed" if verb == "add" else "saved",
        "tool": tool, "program": tool.split(" ", 1)[0] or "true", "cwd": cwd, "timeout_s": timeout,
        "delay": human_seconds(delay_s or 0), "occurrences": row["occurrences"], "days": row["days"],
        "output_glob": row["output_glob"] or "*", "dest": dest or ".", "then": then,
        "duration": human_seconds(row["duration_median_s"] or 0), "duration_p90": human_seconds(p90 or 0),
        "commit_glob": ".git/COMMIT_EDITMSG" if cwd == "." else f"{cwd}/.git/COMMIT_EDITMSG",
        "every": "on weekdays" if weekdays else "every day", "at": at,
        "cron": f"{row['at_minute'] or 0} {row['at_hour'] or 0} * * {'1-5' if weekdays else '*'}",
        "active_days": row["active_days"] or row["days"],
    }  # fmt: skip


def savings(row: dict[str, Any], entry: Entry, span_days: float) -> dict[str, Any]:
    """Minutes a week from measured data: occurrences per week x (delay + run duration + documented effort)."""
    weeks = max(span_days / 7, MIN_WEEKS)
    per_week = row["occurrences"] / weeks
    parts: list[tuple[str, float]] = []
    delays = row["delays_median_s"] or []
    if entry.savings.delay and delays:
        what = {"create_move": "the move", "file_copy": "the copy", "run_run": "the second run"}.get(
            row["shape"], "the run"
        )
        parts.append((f"median delay to {what}", float(delays[0])))
    if entry.savings.duration and row["duration_median_s"] is not None:
        parts.append(("median run", float(row["duration_median_s"])))
    parts.append(("template effort", entry.effort.seconds))
    seconds = sum(v for _, v in parts)
    terms = " + ".join(
        f"{name} {v:g} s" if name == "template effort" else f"{name} {round(v, 1):g} s" for name, v in parts
    )
    basis = (
        f"{terms} (catalog {entry.id}: {entry.effort.source}); {row['occurrences']} times in "
        f"{span_days:.1f} days observed = {per_week:.1f} a week"
    )
    return {
        "minutes_per_week": round(per_week * seconds / 60, 1),
        "occurrences_per_week": round(per_week, 1),
        "seconds_per_occurrence": round(seconds, 1),
        "basis": basis,
    }


def transparent_score(
    *, confidence: float, lift: float | None, minutes_per_week: float, days: int, age_days: float
) -> float:
    """The score before a user has feedback, in [0, 1] (docs/models.md, "The transparent score")."""
    lift_term = min(1.0, math.log(max(lift or 1.0, 1.0)) / math.log(LIFT_FULL))
    terms = {
        "confidence": min(max(confidence, 0.0), 1.0),
        "lift": lift_term,
        "savings": 1 - math.exp(-max(minutes_per_week, 0.0) / MINUTES_SCALE),
        "days": 1 - math.exp(-max(days, 0) / DAYS_SCALE),
        "recency": math.exp(-max(age_days, 0.0) / (RECENCY_HALF_DAYS / math.log(2))),
    }
    return round(sum(WEIGHTS[k] * v for k, v in terms.items()), 4)


def build_suggestions(
    candidates: pl.DataFrame, activity: pl.DataFrame, *, catalog: Catalog | None = None
) -> list[dict[str, Any]]:
    """One suggestion per candidate a catalog entry matches (best per id), with ``user_id`` and ``pattern_key``.

    ``activity``: ``user_activity``'s ``user_id, first_ts, last_ts`` (the observed span and its end, for
    occurrences per week and recency).
    """
    catalog = catalog or default_catalog()
    spans = {r["user_id"]: (r["first_ts"], r["last_ts"]) for r in activity.iter_rows(named=True)}
    out: dict[str, dict[str, Any]] = {}
    for row in candidates.iter_rows(named=True):
        entry = catalog.match(row["shape"], row["tool"], row["next_tool"])
        if entry is None:
            continue
        suggestion = _suggestion(row, entry, spans[row["user_id"]])
        kept = out.get(suggestion["id"])
        if kept is None or suggestion["score"] > kept["score"]:
            out[suggestion["id"]] = suggestion
    return sorted(out.values(), key=lambda s: (str(s["user_id"]), -s["score"], s["id"]))


def _suggestion(row: dict[str, Any], entry: Entry, span: tuple[datetime, datetime]) -> dict[str, Any]:
    first_ts, last_ts = span
    span_days = max((last_ts - first_ts).total_seconds() / 86400, 1.0)
    key = pattern_key(row)
    delays = row["delays_median_s"] or []
    values = _values(row, delays[0] if delays else None)
    title, description, workflow = entry.render(row["shape"], values)
    saved = savings(row, entry, span_days)
    age_days = (last_ts - row["last_seen"]).total_seconds() / 86400
    lift = None if row["lift"] is None or not math.isfinite(row["lift"]) else float(row["lift"])
    confidence = round(float(row["confidence"]), 4)
    score = transparent_score(
        confidence=confidence,
        lift=lift,
        minutes_per_week=saved["minutes_per_week"],
        days=row["days"],
        age_days=age_days,
    )
    evidence = {
        "occurrences": int(row["occurrences"]), "days": int(row["days"]),
        "first_seen": _iso(row["first_seen"]), "last_seen": _iso(row["last_seen"]),
        "examples": [_iso(t) for t in (row["examples"] or [])][-5:],
        "confidence": confidence, "lift": _r(lift, 2), "base_rate": _r(row["base_rate"], 4),
    }  # fmt: skip
    return {
        "id": suggestion_id(row["user_id"], entry.id, key),
        "user_id": row["user_id"],
        "template": entry.id,
        "pattern_key": key,
        "title": _clean(title),
        "description": _clean(description),
        "pattern": {"shape": row["shape"], "steps": _steps(row)},
        "evidence": evidence,
        "savings": saved,
        "confidence": confidence,
        "score": score,
        "workflow": workflow,
    }


def _clean(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()
