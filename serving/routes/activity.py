"""GET /api/v1/activity: the caller's activity in aggregate (counts, top items, heatmap, sessions, devices)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.concurrency import run_in_threadpool
from psycopg import Connection

from ingest.deps import ScopedConn, protected_router
from ingest.responses import OrjsonResponse
from ingest.routes.events import FILTER_ERRORS, FilterDep
from serving.answers_schema import ActivityAnswer, ok

router = protected_router(tags=["activity"])

SESSION_GAP = timedelta(minutes=30)  # a pause this long ends a session, as the feature builder cuts them
TOP = 10
SESSIONS_LISTED = 200


def _where(user_id: int, since: datetime | None, until: datetime | None, kinds: list[str], ext: str | None,
           root: str | None) -> tuple[str, list[Any]]:  # fmt: skip
    clauses: list[str] = ["user_id = %s"]
    params: list[Any] = [user_id]
    if since is not None:
        clauses.append("ts >= %s")
        params.append(since)
    if until is not None:
        clauses.append("ts < %s")
        params.append(until)
    if kinds:
        clauses.append("kind::text = ANY(%s)")
        params.append(kinds)
    if ext is not None:
        clauses.append("ext = %s")
        params.append(ext.lower().lstrip("."))
    if root is not None:
        clauses.append("root = %s")
        params.append(root)
    return " AND ".join(clauses), params


def _top(conn: Connection[Any], column: str, where: str, params: list[Any]) -> list[dict[str, Any]]:
    rows = conn.execute(
        f"SELECT {column}, count(*) FROM events WHERE {where} AND {column} IS NOT NULL AND {column} <> '' "
        f"GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT {TOP}",
        params,
    ).fetchall()
    return [{"name": str(name), "events": int(n)} for name, n in rows]


def activity(conn: Connection[Any], user_id: int, where: str, params: list[Any], now: datetime) -> dict[str, Any]:
    """Every aggregate the dashboard's Overview and Activity pages show, for the filtered events."""
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    counts = conn.execute(
        f"SELECT count(*), count(*) FILTER (WHERE ts >= %s), count(*) FILTER (WHERE ts >= %s), min(ts), max(ts) "
        f"FROM events WHERE {where}",
        [midnight, now - timedelta(days=7), *params],
    ).fetchone()
    assert counts is not None  # an aggregate without GROUP BY always returns one row
    total, today, week, first, last = counts
    heatmap = conn.execute(
        f"SELECT (extract(isodow FROM ts AT TIME ZONE 'UTC') - 1)::int, extract(hour FROM ts AT TIME ZONE 'UTC')::int,"
        f" count(*) FROM events WHERE {where} GROUP BY 1, 2 ORDER BY 1, 2",
        params,
    ).fetchall()
    sessions = conn.execute(
        f"""
        WITH e AS (SELECT ts, ts - lag(ts) OVER (ORDER BY ts, seq) AS gap FROM events WHERE {where}),
             s AS (SELECT ts, count(*) FILTER (WHERE gap IS NULL OR gap > %s) OVER (ORDER BY ts) AS n FROM e)
        SELECT min(ts), max(ts), count(*) FROM s GROUP BY n ORDER BY 1
        """,
        [*params, SESSION_GAP],
    ).fetchall()
    devices = conn.execute(
        "SELECT d.name, max(e.ts), max(e.received_at) FROM devices d LEFT JOIN events e "
        "ON e.device_id = d.id AND e.user_id = d.user_id WHERE d.user_id = %s AND d.revoked_at IS NULL "
        "GROUP BY d.name ORDER BY 1",
        [user_id],
    ).fetchall()
    per_day: dict[str, dict[str, Any]] = {}
    for start, end, n in sessions:
        day = per_day.setdefault(start.date().isoformat(), {"day": start.date().isoformat(), "sessions": 0,
                                                            "events": 0, "active_minutes": 0.0})  # fmt: skip
        day["sessions"] += 1
        day["events"] += int(n)
        day["active_minutes"] += (end - start).total_seconds() / 60
    week_ago = now - timedelta(days=7)
    return {
        "now": now.isoformat(),
        "events": {"total": int(total), "today": int(today), "week": int(week)},
        "first_event": first.isoformat() if first else None,
        "last_event": last.isoformat() if last else None,
        "active_minutes_week": round(sum((e - s).total_seconds() for s, e, _ in sessions if e >= week_ago) / 60, 1),
        "sessions_total": len(sessions),
        "top": {
            "extensions": _top(conn, "ext", where, params),
            "tools": _top(conn, "tool", where, params),
            "roots": _top(conn, "root", where, params),
        },
        "heatmap": [{"weekday": int(d), "hour": int(h), "events": int(n)} for d, h, n in heatmap],
        "days": [{**d, "active_minutes": round(d["active_minutes"], 1)} for d in per_day.values()],
        "sessions": [
            {
                "start": s.isoformat(),
                "end": e.isoformat(),
                "events": int(n),
                "minutes": round((e - s).total_seconds() / 60, 1),
            }
            for s, e, n in sessions[-SESSIONS_LISTED:][::-1]
        ],
        "devices": [
            {
                "name": str(name),
                "last_event": ts.isoformat() if ts else None,
                "lag_s": None if received is None else round((now - received).total_seconds(), 1),
            }
            for name, ts, received in devices
        ],
    }


@router.get("/api/v1/activity", responses={**ok(ActivityAnswer, "the activity in aggregate"), **FILTER_ERRORS})
async def get_activity(scope: ScopedConn, f: FilterDep) -> OrjsonResponse:
    """The caller's activity (the events API's filters): events today and in the last 7 days, active minutes, top
    extensions, tools and roots, a weekday x hour heatmap (UTC), sessions (a 30-minute pause ends one) per day and
    the latest 200, each device with its last event and how long ago its latest event arrived (``lag_s``)."""
    where, params = _where(f.user_id, f.since, f.until, list(f.kinds), f.ext, f.root)
    now = datetime.now(UTC)
    return OrjsonResponse(await run_in_threadpool(activity, scope.conn, f.user_id, where, params, now))
