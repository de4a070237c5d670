"""SQL of the suggestions API: reading suggestions, recording feedback, workflows and their versions.

Every function takes a connection already scoped to one user (``floyo_user`` with ``app.user_id`` set): row level
security, not only the ``WHERE`` clauses, keeps users apart, so another user's id is simply not found.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from floyo.errors import Conflict, NotFound

Action = Literal["accept", "dismiss", "snooze"]
HISTORY_LIMIT = 500  # most recent answers a ranker sees

# what the API shows of a suggestion, in this order; the rest of the row is bookkeeping
_ELIGIBLE = """
SELECT id, template, title, body, occurrences, confidence, score, state
FROM suggestions
WHERE user_id = %(u)s AND active AND (
    state = 'new'
    OR (state = 'snoozed' AND (snoozed_until IS NULL OR snoozed_until <= now()))
    OR (state = 'dismissed' AND occurrences >= 2 * coalesce(dismissed_occurrences, 0)))
ORDER BY score DESC, id
"""
# when the next snoozed suggestion comes back: an answer cached before then must not outlive it
_NEXT_RETURN = """
SELECT min(snoozed_until) FROM suggestions
WHERE user_id = %(u)s AND active AND state = 'snoozed' AND snoozed_until > now()
"""


@dataclass(frozen=True, slots=True)
class SuggestionState:
    """A user's ``suggestion_state``: the version (cache key), the model that made the suggestions, activity."""

    version: int
    model_version: str | None
    activity: dict[str, Any]


def read_state(conn: psycopg.Connection[Any], user_id: int) -> SuggestionState | None:
    """The user's suggestion state, None before the first refresh."""
    row = conn.execute(
        "SELECT version, model_version, activity FROM suggestion_state WHERE user_id = %s", (user_id,)
    ).fetchone()
    return None if row is None else SuggestionState(int(row[0]), row[1], dict(row[2] or {}))


def as_shown(row: dict[str, Any]) -> dict[str, Any]:
    """A suggestions row as the API shows it: the body plus id, template, title, confidence, score, state."""
    body = row["body"] or {}
    return {
        "id": row["id"],
        "template": row["template"],
        "title": row["title"],
        "description": body.get("description", ""),
        "pattern": body.get("pattern", {}),
        "evidence": body.get("evidence", {}),
        "savings": body.get("savings", {}),
        "confidence": row["confidence"],
        "score": row["score"],
        # a dismissed one whose evidence doubled comes back as new; an ended snooze says so
        "state": "snoozed" if row["state"] == "snoozed" else "new",
        "workflow": body.get("workflow"),
    }


def eligible_suggestions(conn: psycopg.Connection[Any], user_id: int) -> tuple[list[dict[str, Any]], datetime | None]:
    """The suggestions the user may be shown now, by transparent score, and when a snoozed one comes back."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(_ELIGIBLE, {"u": user_id}).fetchall()
        next_return = cur.execute(_NEXT_RETURN, {"u": user_id}).fetchone()
    return [as_shown(r) for r in rows], (next_return or {}).get("min")


def feedback_history(conn: psycopg.Connection[Any], user_id: int) -> list[dict[str, Any]]:
    """The user's past answers, oldest first (the ranker's view of them): action, template, what was shown."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            "SELECT * FROM (SELECT f.suggestion_id, s.template, f.action, f.reason, f.days, f.position, f.shown, "
            "f.created_at FROM suggestion_feedback f JOIN suggestions s ON s.id = f.suggestion_id "
            "WHERE f.user_id = %s ORDER BY f.created_at DESC, f.id DESC LIMIT %s) recent ORDER BY created_at",
            (user_id, HISTORY_LIMIT),
        ).fetchall()
    return list(rows)


# what became of the workflows a person adopted from suggestions, as ranker history rows (serving.ranker_features),
# dated when the verdict was first known; ``measuring`` is no verdict yet
OUTCOME_HISTORY = """
SELECT o.user_id, s.id AS suggestion_id, 'outcome' AS action, o.verdict, o.verdict_at AS created_at,
       jsonb_build_object('id', s.id, 'template', s.template) AS shown
FROM workflow_outcomes o JOIN suggestions s ON s.workflow_id = o.workflow_id AND s.user_id = o.user_id
WHERE o.verdict IN ('saving', 'used', 'unused', 'no_saving') AND o.verdict_at IS NOT NULL
"""


def outcome_history(conn: psycopg.Connection[Any], user_id: int) -> list[dict[str, Any]]:
    """The verdicts on the user's adopted suggestions, oldest first, as history rows (``action`` = ``outcome``)."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(OUTCOME_HISTORY + " AND o.user_id = %s ORDER BY o.verdict_at", (user_id,)).fetchall()
    return list(rows)


def _locked_suggestion(conn: psycopg.Connection[Any], user_id: int, suggestion_id: str) -> dict[str, Any]:
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            "SELECT * FROM suggestions WHERE id = %s AND user_id = %s FOR UPDATE", (suggestion_id, user_id)
        ).fetchone()
    if row is None:  # another user's id reads exactly like one that never existed
        raise NotFound("no_such_suggestion", f"no suggestion {suggestion_id!r}")
    return row


def bump_version(conn: psycopg.Connection[Any], user_id: int) -> None:
    """A new ``suggestion_state.version``: every answer cached under the old one is unreachable."""
    conn.execute("UPDATE suggestion_state SET version = version + 1 WHERE user_id = %s", (user_id,))


def record_feedback(
    conn: psycopg.Connection[Any],
    user_id: int,
    suggestion_id: str,
    *,
    action: Action,
    reason: str | None,
    days: int,
    position: int | None,
    shown: dict[str, Any] | None,
    workflow: dict[str, Any] | None = None,
) -> dict[str, Any] | None:
    """Record an answer and move the suggestion's state; accept creates the workflow (``workflow``, validated by
    the caller) and returns it. 404 for an id the user cannot see, 409 once accepted."""
    row = _locked_suggestion(conn, user_id, suggestion_id)
    if row["state"] == "accepted":
        raise Conflict("already_accepted", f"suggestion {suggestion_id!r} was accepted; its workflow exists")
    created = None
    if action == "accept":
        assert workflow is not None
        origin = {"suggestion_id": suggestion_id, "model_version": row["model_version"]}
        created = create_workflow(conn, user_id, workflow, origin=origin)
        conn.execute(
            "UPDATE suggestions SET state = 'accepted', workflow_id = %s, updated_at = now() WHERE id = %s",
            (created["id"], suggestion_id),
        )
    elif action == "dismiss":
        conn.execute(
            "UPDATE suggestions SET state = 'dismissed', dismissed_occurrences = occurrences, snoozed_until = NULL, "
            "updated_at = now() WHERE id = %s",
            (suggestion_id,),
        )
    else:
        conn.execute(
            "UPDATE suggestions SET state = 'snoozed', snoozed_until = now() + make_interval(days => %s), "
            "updated_at = now() WHERE id = %s",
            (days, suggestion_id),
        )
    conn.execute(
        "INSERT INTO suggestion_feedback (user_id, suggestion_id, action, reason, days, position, shown) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s)",
        (user_id, suggestion_id, action, reason, days if action == "snooze" else None, position,
         Jsonb(shown or as_shown(row))),
    )  # fmt: skip
    bump_version(conn, user_id)
    return created


def suggestion_workflow(conn: psycopg.Connection[Any], user_id: int, suggestion_id: str) -> Any:
    """The workflow a suggestion would create (its ``body.workflow``); 404 when the user cannot see it."""
    row = conn.execute(
        "SELECT body -> 'workflow' FROM suggestions WHERE id = %s AND user_id = %s", (suggestion_id, user_id)
    ).fetchone()
    if row is None:
        raise NotFound("no_such_suggestion", f"no suggestion {suggestion_id!r}")
    return row[0]


# --- workflows: every change a new version row; a deletion keeps the history

# what a workflow is shown with: every query below selects (or returns) exactly these, as dict rows
_WORKFLOW_COLUMNS = "id, name, version, enabled, definition, origin, created_at, updated_at"


def _add_version(
    conn: psycopg.Connection[Any], user_id: int, workflow_id: int, version: int, change: str, definition: Any
) -> None:
    conn.execute(
        "INSERT INTO workflow_versions (workflow_id, version, user_id, change, definition) VALUES (%s, %s, %s, %s, %s)",
        (workflow_id, version, user_id, change, Jsonb(definition)),
    )


def create_workflow(
    conn: psycopg.Connection[Any], user_id: int, definition: dict[str, Any], *, origin: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A new workflow at version 1 (``definition`` already validated)."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            f"INSERT INTO workflows (user_id, name, enabled, definition, origin) VALUES (%s, %s, %s, %s, %s) "
            f"RETURNING {_WORKFLOW_COLUMNS}",
            (user_id, definition["name"], definition["enabled"], Jsonb(definition),
             None if origin is None else Jsonb(origin)),
        ).fetchone()  # fmt: skip
    assert row is not None
    _add_version(conn, user_id, row["id"], 1, "create", definition)
    return row


def list_workflows(conn: psycopg.Connection[Any], user_id: int) -> list[dict[str, Any]]:
    """The user's workflows (not deleted), oldest first."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            f"SELECT {_WORKFLOW_COLUMNS} FROM workflows WHERE user_id = %s AND deleted_at IS NULL ORDER BY id",
            (user_id,),
        ).fetchall()
    return list(rows)


def get_workflow(
    conn: psycopg.Connection[Any], user_id: int, workflow_id: int, *, for_update: bool = False
) -> dict[str, Any]:
    """One live workflow; 404 when deleted, another user's, or never made."""
    lock = " FOR UPDATE" if for_update else ""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            f"SELECT {_WORKFLOW_COLUMNS} FROM workflows WHERE id = %s AND user_id = %s AND deleted_at IS NULL{lock}",
            (workflow_id, user_id),
        ).fetchone()
    if row is None:
        raise NotFound("no_such_workflow", f"no workflow {workflow_id}")
    return row


def update_workflow(
    conn: psycopg.Connection[Any], user_id: int, workflow_id: int, definition: dict[str, Any]
) -> dict[str, Any]:
    """Replace the definition (validated by the caller): the next version; the same definition changes nothing."""
    current = get_workflow(conn, user_id, workflow_id, for_update=True)
    if current["definition"] == definition:
        return current
    version = current["version"] + 1
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            f"UPDATE workflows SET name = %s, enabled = %s, definition = %s, version = %s, updated_at = now() "
            f"WHERE id = %s RETURNING {_WORKFLOW_COLUMNS}",
            (definition["name"], definition["enabled"], Jsonb(definition), version, workflow_id),
        ).fetchone()
    assert row is not None
    _add_version(conn, user_id, workflow_id, version, "update", definition)
    return row


def delete_workflow(conn: psycopg.Connection[Any], user_id: int, workflow_id: int) -> None:
    """Soft delete: ``deleted_at`` set, a last ``delete`` version recorded, the history kept."""
    current = get_workflow(conn, user_id, workflow_id, for_update=True)
    version = current["version"] + 1
    conn.execute(
        "UPDATE workflows SET deleted_at = now(), version = %s, updated_at = now() WHERE id = %s",
        (version, workflow_id),
    )
    _add_version(conn, user_id, workflow_id, version, "delete", current["definition"])


def workflow_versions(conn: psycopg.Connection[Any], user_id: int, workflow_id: int) -> list[dict[str, Any]]:
    """Every version of a live workflow, oldest first."""
    get_workflow(conn, user_id, workflow_id)
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            "SELECT version, change, definition, created_at FROM workflow_versions "
            "WHERE workflow_id = %s AND user_id = %s ORDER BY version",
            (workflow_id, user_id),
        ).fetchall()
    return list(rows)
