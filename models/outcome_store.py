"""The job step after the suggestions refresh: measure every adopted workflow (``models.outcomes``) from the lake and
write ``workflow_outcomes``, as the table owner. The API and the ranker read those rows.

A workflow is adopted at its first approval by any device, or at its first reported run if that came first.
``verdict_at`` is when the current verdict was first computed: it stays while the verdict stays, so the ranker
learns from a verdict only from when it was known.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
from sqlalchemy import Engine, text

from floyo.settings import Settings, get_settings
from models.outcomes import BEFORE_DAYS, Adopted, measure_all

_ADOPTED = """
WITH approved AS (
    SELECT workflow_id, min(at) AS at FROM workflow_approvals WHERE state = 'approved' GROUP BY workflow_id
), ran AS (
    SELECT user_id, meta ->> 'workflow_id' AS workflow_id, min(ts) AS at FROM events
    WHERE kind = 'run' AND meta ? 'workflow_id' GROUP BY 1, 2
)
SELECT w.id, w.user_id, least(a.at, r.at) AS adopted_at, s.template,
       s.body -> 'pattern' -> 'steps' AS steps, s.body -> 'savings' -> 'seconds_per_occurrence' AS seconds
FROM workflows w
LEFT JOIN approved a ON a.workflow_id = w.id
LEFT JOIN ran r ON r.user_id = w.user_id AND r.workflow_id = w.id::text
LEFT JOIN suggestions s ON s.id = w.origin ->> 'suggestion_id' AND s.user_id = w.user_id
WHERE w.deleted_at IS NULL AND (a.at IS NOT NULL OR r.at IS NOT NULL)
ORDER BY w.id
"""
_UPSERT = """
INSERT INTO workflow_outcomes AS o (workflow_id, user_id, adopted_at, verdict, verdict_at, body, computed_at)
VALUES (:workflow_id, :user_id, :adopted_at, :verdict, :now, CAST(:body AS jsonb), :now)
ON CONFLICT (workflow_id) DO UPDATE SET
    adopted_at = EXCLUDED.adopted_at, body = EXCLUDED.body, computed_at = EXCLUDED.computed_at,
    verdict_at = CASE WHEN o.verdict = EXCLUDED.verdict THEN o.verdict_at ELSE EXCLUDED.verdict_at END,
    verdict = EXCLUDED.verdict
"""
COLUMNS = ("user_id", "ts", "kind", "root", "path", "ext", "dest_path", "tool", "exit_code", "meta")


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def adopted_workflows(engine: Engine) -> list[Adopted]:
    """Every live workflow that was adopted, with its suggestion's pattern and measured cost (if it came from one)."""
    with engine.connect() as conn:
        rows = conn.execute(text(_ADOPTED)).mappings().all()
    return [_adopted(r) for r in rows]


def _adopted(r: Any) -> Adopted:
    steps = r["steps"] if isinstance(r["steps"], list) and r["steps"] else None
    return Adopted(int(r["id"]), int(r["user_id"]), r["adopted_at"], steps, _number(r["seconds"]), r["template"])


def lake_events_of(adopted: list[Adopted], settings: Settings) -> pl.DataFrame:
    """The lake's events of the people who adopted these workflows, from the earliest day a measure looks at, with
    the columns ``models.outcomes`` reads."""
    from features.lake import events

    users = sorted({a.user_id for a in adopted})
    since = min(a.adopted_at for a in adopted).astimezone(UTC) - timedelta(days=BEFORE_DAYS)
    wanted = pl.col("user_id").is_in(users) & (pl.col("ts") >= since)
    return events(settings).select(COLUMNS).filter(wanted).collect()


def refresh_outcomes(
    engine: Engine, settings: Settings | None = None, *, events: pl.DataFrame | None = None, now: datetime | None = None
) -> dict[str, Any]:
    """Measure every adopted workflow and upsert ``workflow_outcomes``; counts by verdict (the job's summary).
    ``events`` (lake columns) instead of the lake, and ``now``, for tests and notebooks."""
    started = time.perf_counter()
    now = now or datetime.now(UTC)
    adopted = adopted_workflows(engine)
    if events is None and adopted:
        events = lake_events_of(adopted, settings or get_settings())
    bodies = measure_all(events.select(COLUMNS), adopted, now) if adopted and events is not None else []
    rows = [
        {"workflow_id": b["workflow_id"], "user_id": b["user_id"], "adopted_at": a.adopted_at,
         "verdict": b["verdict"], "now": now, "body": json.dumps(b)}
        for a, b in zip(adopted, bodies, strict=True)
    ]  # fmt: skip
    if rows:
        with engine.begin() as conn:
            conn.execute(text(_UPSERT), rows)
    verdicts: dict[str, int] = {}
    for b in bodies:
        verdicts[b["verdict"]] = verdicts.get(b["verdict"], 0) + 1
    return {"workflows": len(rows), "verdicts": verdicts, "seconds": round(time.perf_counter() - started, 3)}
