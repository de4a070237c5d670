"""The ``job_runs`` table: each run of a job, its steps' durations and its outcome (the dashboard reads it)."""

from __future__ import annotations

import os
import socket
from typing import Any

import orjson
from sqlalchemy import Connection, text

JOB = "pipeline"


def start_run(conn: Connection, *, trigger: str, status: str = "running", job: str = JOB) -> int:
    """Insert a run and return its id."""
    return int(
        conn.execute(
            text("INSERT INTO job_runs (job, trigger, status, host, pid) VALUES (:job, :t, :s, :h, :p) RETURNING id"),
            {"job": job, "t": trigger, "s": status, "h": socket.gethostname(), "p": os.getpid()},
        ).scalar_one()
    )


def finish_run(
    conn: Connection, run_id: int, *, status: str, steps: dict[str, float], summary: dict[str, Any], error: str | None
) -> None:
    """Record how a run ended."""
    conn.execute(
        text(
            "UPDATE job_runs SET status = :s, finished_at = now(), steps = CAST(:steps AS jsonb),"
            " summary = CAST(:summary AS jsonb), error = :e,"
            " duration_s = extract(epoch FROM now() - started_at) WHERE id = :id"
        ),
        {"s": status, "steps": orjson.dumps(steps).decode(), "summary": _json(summary), "e": error, "id": run_id},
    )


def abandon_stale(conn: Connection, *, job: str = JOB) -> int:
    """Mark runs left ``running`` by a process that died as ``abandoned`` (call only while holding the job lock)."""
    return conn.execute(
        text("UPDATE job_runs SET status = 'abandoned', finished_at = now() WHERE job = :job AND status = 'running'"),
        {"job": job},
    ).rowcount


def last_trained_watermark(conn: Connection, *, job: str = JOB) -> int | None:
    """The lake watermark that the latest run which trained saw."""
    value = conn.execute(
        text(
            "SELECT (summary->>'watermark')::bigint FROM job_runs WHERE job = :job AND status = 'succeeded'"
            " AND (summary->>'trained')::boolean ORDER BY id DESC LIMIT 1"
        ),
        {"job": job},
    ).scalar()
    return None if value is None else int(value)


def recent_runs(conn: Connection, *, limit: int = 20, job: str = JOB) -> list[dict[str, Any]]:
    """The latest runs, newest first."""
    rows = conn.execute(
        text(
            "SELECT id, trigger, status, started_at, finished_at, duration_s, steps, summary, error FROM job_runs"
            " WHERE job = :job ORDER BY id DESC LIMIT :n"
        ),
        {"job": job, "n": limit},
    )
    return [dict(r._mapping) for r in rows]


def _json(value: Any) -> str:
    return orjson.dumps(value, default=str, option=orjson.OPT_SERIALIZE_NUMPY).decode()
