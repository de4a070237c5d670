"""GET /api/v1/patterns: what the champion models found for the caller (rules and workflows, in words)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query
from fastapi.concurrency import run_in_threadpool
from psycopg import Connection

from ingest.deps import ACT_FOR_ERRORS, ScopedConn, UserQuery, protected_router
from ingest.responses import OrjsonResponse
from serving.answers_schema import PatternsAnswer, ok

router = protected_router(tags=["patterns"])

_COLUMNS = "family, user_id, rank, body, model_name, model_version, refreshed_at"


def _rows(conn: Connection[Any], sql: str, params: list[Any]) -> list[dict[str, Any]]:
    rows = conn.execute(f"SELECT {_COLUMNS} FROM patterns WHERE {sql}", params).fetchall()
    return [
        {"scope": "user" if user is not None else "global", "rank": rank, **body,
         "model": {"name": name, "version": version, "refreshed_at": at.isoformat()}}
        for _, user, rank, body, name, version, at in rows
    ]  # fmt: skip


def patterns(conn: Connection[Any], user_id: int, global_rules: int) -> dict[str, Any]:
    """The user's own rules then the strongest global ones, the user's workflows, and the activity the last
    refresh saw (``None`` before any) with what a personal pattern needs."""
    own_rules = _rows(conn, "family = 'rules' AND user_id = %s ORDER BY rank", [user_id])
    shared = _rows(conn, "family = 'rules' AND user_id IS NULL ORDER BY rank LIMIT %s", [global_rules])
    workflows = _rows(conn, "family = 'workflows' AND user_id = %s ORDER BY rank", [user_id])
    row = conn.execute(
        "SELECT events, sessions, days, needed FROM pattern_activity WHERE user_id = %s", [user_id]
    ).fetchone()
    return {
        "rules": own_rules + shared,
        "workflows": workflows,
        "activity": None if row is None else {"events": row[0], "sessions": row[1], "days": row[2]},
        "needed": {} if row is None else dict(row[3]),
    }


@router.get(
    "/api/v1/patterns",
    responses={
        **ok(PatternsAnswer, "rules and workflows in words"),
        **ACT_FOR_ERRORS,
    },
)
async def get_patterns(
    scope: ScopedConn,
    global_rules: Annotated[int, Query(ge=0, le=500, description="global rules after the user's own")] = 20,
    user: UserQuery = None,
) -> OrjsonResponse:
    """``{"rules", "workflows", "activity", "needed"}``: association rules (the caller's own, then global ones;
    each with ``text``, ``if``, ``then``, ``sessions``, ``support``, ``confidence``, ``lift``, ``examples``) and
    repeated workflows (``text``, ``steps``, ``windows_s``, ``delays_median_s``, ``occurrences``, ``confidence``,
    ``lift``, ``days``, ``last_seen``), as the pipeline job's last refresh wrote them; empty lists before any."""
    user_id = scope.act_for(user)
    return OrjsonResponse(await run_in_threadpool(patterns, scope.conn, user_id, global_rules))
