"""A person's realistic history around an adopted workflow: the manual pattern for weeks, adoption, then the
agent's runs and fewer manual ones. Plain event dicts (the telemetry API's shape), and the lake's frame of them."""

from __future__ import annotations

import json
import random
import uuid
from datetime import datetime, timedelta
from typing import Any

import polars as pl
from sqlalchemy import Engine, text

# the suggestion the workflow came from: save a .tex in thesis/, run latexmk by hand within a minute
STEPS: list[dict[str, Any]] = [
    {"action": "modify", "glob": "thesis/*.tex", "root": "documents"},
    {"action": "run", "tool": "latexmk", "window_s": 60, "delay_median_s": 20.0, "delay_p90_s": 41.0},
]
SECONDS = 30.0
SCHEMA: dict[str, pl.DataType | type[pl.DataType]] = {
    "user_id": pl.Int64, "ts": pl.Datetime("us", "UTC"), "kind": pl.String, "root": pl.String, "path": pl.String,
    "ext": pl.String, "dest_path": pl.String, "tool": pl.String, "exit_code": pl.Int32, "meta": pl.String,
}  # fmt: skip


def event(ts: datetime, kind: str, **fields: Any) -> dict[str, Any]:
    """One event as the agent sends it."""
    return {"event_id": str(uuid.uuid4()), "ts": ts.isoformat(), "kind": kind, "root": "documents", **fields}


def agent_run(workflow_id: int, ts: datetime, outcome: str = "ok") -> dict[str, Any]:
    """The ``run`` event of one of the workflow's runs, as the agent reports it."""
    return event(
        ts, "run", path="thesis", tool="latexmk", exit_code=0 if outcome == "ok" else 1, duration_ms=4000,
        meta={"workflow_id": workflow_id, "workflow_version": 1, "outcome": outcome, "run_id": uuid.uuid4().hex},
    )  # fmt: skip


def history(
    workflow_id: int, adopted: datetime, *, weeks_before: int = 3, days_after: int = 21, per_day: int = 4,
    manual_after: float = 0.2, runs: bool = True, seed: int = 5,
) -> list[dict[str, Any]]:  # fmt: skip
    """Workdays of saves: before ``adopted`` each save is followed by a manual latexmk ~20 s later; after it the agent
    runs latexmk on each save (``runs``) and the person still does it by hand ``manual_after`` of the time."""
    rng = random.Random(seed)
    out: list[dict[str, Any]] = []
    day0 = adopted.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(weeks=weeks_before)
    for d in range(weeks_before * 7 + days_after):
        day = day0 + timedelta(days=d)
        if day.weekday() >= 5:
            continue
        for i in range(per_day):
            saved = day + timedelta(hours=9 + 2 * i, minutes=rng.randint(0, 59))
            out.append(event(saved, "modify", path=f"thesis/ch{rng.randint(1, 5)}.tex"))
            out.append(event(saved + timedelta(minutes=5), "open", path="notes/todo.md"))  # unrelated
            after = saved >= adopted
            if after and runs:
                out.append(agent_run(workflow_id, saved + timedelta(seconds=3)))
            if not after or rng.random() < manual_after:
                out.append(event(saved + timedelta(seconds=rng.randint(10, 40)), "run", path="thesis",
                                 tool="latexmk", exit_code=0, duration_ms=4200))  # fmt: skip
    return out


def frame(events: list[dict[str, Any]], user_id: int = 1) -> pl.DataFrame:
    """The events as the lake holds them (``models.outcome_store.COLUMNS``; meta as JSON text)."""
    rows = [
        {"user_id": user_id, "ts": datetime.fromisoformat(e["ts"]), "kind": e["kind"], "root": e["root"],
         "path": e.get("path", ""), "ext": e.get("path", "").rpartition(".")[2] if "." in e.get("path", "") else "",
         "dest_path": e.get("dest_path"), "tool": e.get("tool"), "exit_code": e.get("exit_code"),
         "meta": None if e.get("meta") is None else json.dumps(e["meta"])}
        for e in events
    ]  # fmt: skip
    return pl.DataFrame(rows, schema=SCHEMA).sort("ts")


def stored_frame(engine: Engine, user_id: int) -> pl.DataFrame:
    """A user's events as PostgreSQL stored them (times corrected for the client's clock), with the lake's columns:
    what the export would write."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT user_id, ts, kind::text AS kind, root, path, ext, dest_path, tool, exit_code, meta::text AS meta "
                "FROM events WHERE user_id = :u ORDER BY ts, seq"
            ),
            {"u": user_id},
        ).mappings()
        return pl.DataFrame([dict(r) for r in rows], schema=SCHEMA).with_columns(
            pl.col("ts").dt.convert_time_zone("UTC")
        )
