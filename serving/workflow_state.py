"""SQL of what happens to a workflow on people's machines: devices' approvals, the runs they report, the outcome.

Like ``serving.store``, every function takes a connection scoped to one user (``floyo_user``, ``app.user_id``
set), so row level security keeps users apart; another user's workflow id is simply not found.
"""

from __future__ import annotations

from typing import Any, Literal

import psycopg
from psycopg.rows import dict_row

from floyo.errors import Conflict
from floyo.workflow_definition import definition_hash
from serving import store

ApprovalState = Literal["approved", "rejected", "disabled"]

# the latest state each device reported, per workflow (the table keeps every report)
_LATEST_APPROVALS = """
SELECT DISTINCT ON (a.workflow_id, a.device_id)
       a.workflow_id, a.device_id, d.name AS device, a.state, a.version, a.definition_hash, a.reason, a.at
FROM workflow_approvals a LEFT JOIN devices d ON d.id = a.device_id
WHERE a.user_id = %(u)s AND a.workflow_id = ANY(%(ids)s)
ORDER BY a.workflow_id, a.device_id, a.at DESC, a.id DESC
"""
# adoption: the first approval by any device, or the first run reported if that came first (an agent that
# approved offline reports its approval later than its first runs)
_ADOPTED = """
SELECT w.id, least(
    (SELECT min(a.at) FROM workflow_approvals a WHERE a.workflow_id = w.id AND a.state = 'approved'),
    (SELECT min(e.ts) FROM events e WHERE e.user_id = %(u)s AND e.kind = 'run' AND e.meta ? 'workflow_id'
        AND e.meta ->> 'workflow_id' = w.id::text)) AS adopted_at
FROM workflows w WHERE w.user_id = %(u)s AND w.id = ANY(%(ids)s)
"""
_OUTCOMES = """
SELECT workflow_id, verdict, verdict_at, body, computed_at FROM workflow_outcomes
WHERE user_id = %(u)s AND workflow_id = ANY(%(ids)s)
"""
_RUNS = """
SELECT e.event_id::text AS event_id, e.meta ->> 'run_id' AS run_id, e.ts AS started_at, e.duration_ms, e.exit_code,
       e.meta ->> 'outcome' AS outcome, e.meta -> 'workflow_version' AS version, e.meta ->> 'error' AS error,
       e.tool, e.root, e.path, e.device_id, d.name AS device
FROM events e LEFT JOIN devices d ON d.id = e.device_id
WHERE e.user_id = %(u)s AND e.kind = 'run' AND e.meta ? 'workflow_id' AND e.meta ->> 'workflow_id' = %(w)s
ORDER BY e.ts DESC, e.seq DESC
LIMIT %(limit)s
"""


def _outcome_of(row: dict[str, Any] | None) -> dict[str, Any] | None:
    if row is None:
        return None
    return {**row["body"], "verdict": row["verdict"], "verdict_at": row["verdict_at"],
            "computed_at": row["computed_at"]}  # fmt: skip


def with_state(conn: psycopg.Connection[Any], user_id: int, workflows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The workflows with ``approvals`` (each device's latest state), ``adopted_at`` and ``outcome`` (the job's
    last measure, null before it)."""
    if not workflows:
        return workflows
    params = {"u": user_id, "ids": [w["id"] for w in workflows]}
    approvals: dict[int, list[dict[str, Any]]] = {}
    with conn.cursor(row_factory=dict_row) as cur:
        for row in cur.execute(_LATEST_APPROVALS, params).fetchall():
            approvals.setdefault(row.pop("workflow_id"), []).append(row)
        adopted = {r["id"]: r["adopted_at"] for r in cur.execute(_ADOPTED, params).fetchall()}
        outcomes = {r["workflow_id"]: r for r in cur.execute(_OUTCOMES, params).fetchall()}
    return [
        {**w, "approvals": approvals.get(w["id"], []), "adopted_at": adopted.get(w["id"]),
         "outcome": _outcome_of(outcomes.get(w["id"]))}
        for w in workflows
    ]  # fmt: skip


def _version_definition(conn: psycopg.Connection[Any], user_id: int, workflow_id: int, version: int) -> Any:
    row = conn.execute(
        "SELECT definition FROM workflow_versions WHERE workflow_id = %s AND user_id = %s AND version = %s "
        "AND change <> 'delete'",
        (workflow_id, user_id, version),
    ).fetchone()
    return None if row is None else row[0]


def record_approval(
    conn: psycopg.Connection[Any],
    user_id: int,
    device_id: int,
    workflow_id: int,
    *,
    version: int,
    hash_: str,
    state: ApprovalState,
    reason: str | None,
) -> dict[str, Any]:
    """Record what a device says of a workflow at a version; ``disabled`` also disables it on the server (a new
    version with ``enabled: false``). 404 for a workflow the user cannot see, 409 when the hash is not the server's
    hash of that version (the device approved something else than what is stored). The workflow, as shown."""
    current = store.get_workflow(conn, user_id, workflow_id, for_update=True)
    definition = _version_definition(conn, user_id, workflow_id, version)
    expected = None if definition is None else definition_hash(definition)
    if expected != hash_:
        current_hash = definition_hash(current["definition"])
        raise Conflict(
            "stale_definition",
            f"version {version} of workflow {workflow_id} " + ("does not exist" if expected is None else
            "has another definition hash") + f"; the current version is {current['version']}: fetch it again",
            {"version": current["version"], "definition_hash": current_hash},
        )  # fmt: skip
    conn.execute(
        "INSERT INTO workflow_approvals (workflow_id, user_id, device_id, version, definition_hash, state, reason) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s)",
        (workflow_id, user_id, device_id, version, hash_, state, reason),
    )
    if state == "disabled" and current["enabled"]:
        current = store.update_workflow(conn, user_id, workflow_id, {**current["definition"], "enabled": False})
    return with_state(conn, user_id, [current])[0]


def workflow_runs(conn: psycopg.Connection[Any], user_id: int, workflow_id: int, limit: int) -> list[dict[str, Any]]:
    """The ``run`` events reported for a live workflow, newest first: started, duration, exit code, outcome, version,
    device; 404 for a workflow the user cannot see."""
    store.get_workflow(conn, user_id, workflow_id)
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(_RUNS, {"u": user_id, "w": str(workflow_id), "limit": limit}).fetchall()
    for row in rows:  # meta is the client's: a version that is not a whole number is shown as unknown
        row["version"] = v if isinstance(v := row["version"], int) and not isinstance(v, bool) and v >= 1 else None
    return list(rows)


def workflow_outcome(conn: psycopg.Connection[Any], user_id: int, workflow_id: int) -> dict[str, Any]:
    """A live workflow's ``adopted_at``, ``approvals`` and ``outcome`` (null before the job measured it)."""
    shown = with_state(conn, user_id, [store.get_workflow(conn, user_id, workflow_id)])[0]
    return {k: shown[k] for k in ("id", "adopted_at", "approvals", "outcome")}
