"""A user's suggestions answer: read from what the refresh wrote, ranked, cached, and where feedback lands."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import psycopg
from pydantic import ValidationError

from floyo.errors import Conflict
from floyo.workflow_definition import validate_definition
from serving import store
from serving.cache import AnswerCache, cache_key
from serving.champions import LoadedRanker

log = logging.getLogger(__name__)

TRANSPARENT = {"name": "transparent", "version": None}
NO_STATE_MESSAGE = "no suggestions yet: they are made from your activity by the pipeline job (floyo job run)"


def _rank(
    conn: psycopg.Connection[Any], user_id: int, suggestions: list[dict[str, Any]], ranker: LoadedRanker | None
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Best first: the ranker's order once the user has answered before, else the transparent score's."""
    if ranker is None or len(suggestions) < 2:
        return suggestions, TRANSPARENT
    history = store.feedback_history(conn, user_id)
    if not history:  # before any feedback the transparent score is the ranking (docs/models.md)
        return suggestions, TRANSPARENT
    history += store.outcome_history(conn, user_id)  # what became of the automations accepted before
    try:
        scores = ranker.model.rank(suggestions, history)
        if len(scores) != len(suggestions):
            raise ValueError(f"{len(scores)} scores for {len(suggestions)} suggestions")
    except Exception:  # a broken ranker costs its ordering, never the answer
        log.exception("ranker %s v%s failed; answering with the transparent score", ranker.name, ranker.version)
        return suggestions, TRANSPARENT
    order = sorted(range(len(suggestions)), key=lambda i: (-float(scores[i]), -suggestions[i]["score"], i))
    return [suggestions[i] for i in order], {"name": ranker.name, "version": ranker.version}


def compute_answer(
    conn: psycopg.Connection[Any], user_id: int, state: store.SuggestionState | None, ranker: LoadedRanker | None
) -> tuple[dict[str, Any], datetime | None]:
    """Every suggestion the user may see now, ranked, and until when that stays true (a snooze ending)."""
    suggestions, next_return = store.eligible_suggestions(conn, user_id)
    ranked, used = _rank(conn, user_id, suggestions, ranker)
    answer: dict[str, Any] = {
        "suggestions": ranked,
        "model_version": state.model_version if state else None,
        "ranker": used,
    }
    if not ranked:
        answer["activity"] = state.activity if state and state.activity else {"message": NO_STATE_MESSAGE}
    return answer, next_return


def suggestions_answer(
    conn: psycopg.Connection[Any],
    user_id: int,
    *,
    cache: AnswerCache,
    ranker: LoadedRanker | None,
) -> dict[str, Any]:
    """The full ranked answer, from the cache when this state and ranker already produced it."""
    state = store.read_state(conn, user_id)
    # no state row: nothing would change the key on the first refresh's feedback, so nothing is cached
    key = None if state is None else cache_key(user_id, state.version, ranker.version if ranker else None)
    if key is not None:
        cached = cache.get(key)
        if cached is not None:
            return cached
    answer, next_return = compute_answer(conn, user_id, state, ranker)
    if key is not None:
        ttl = cache.ttl
        if next_return is not None:
            ttl = min(ttl, (next_return - datetime.now(UTC)).total_seconds())
        cache.set(key, answer, ttl)
    return answer


def limited(answer: dict[str, Any], limit: int) -> dict[str, Any]:
    """The answer with its first ``limit`` suggestions."""
    return {**answer, "suggestions": answer["suggestions"][:limit]}


def position_of(answer: dict[str, Any], suggestion_id: str) -> tuple[int | None, dict[str, Any] | None]:
    """Where a suggestion stands in the answer (0 first) and how it is shown there; (None, None) when absent."""
    for i, suggestion in enumerate(answer["suggestions"]):
        if suggestion["id"] == suggestion_id:
            return i, suggestion
    return None, None


def _suggested_workflow(conn: psycopg.Connection[Any], user_id: int, suggestion_id: str) -> dict[str, Any]:
    try:
        return validate_definition(store.suggestion_workflow(conn, user_id, suggestion_id))
    except ValidationError as exc:  # the refresh wrote a workflow the model refuses: say so, create nothing
        first = exc.errors()[0]
        where = ".".join(map(str, first["loc"])) or "definition"
        raise Conflict(
            "invalid_suggested_workflow", f"the suggestion's workflow is invalid ({where}: {first['msg']})"
        ) from None


def give_feedback(
    conn: psycopg.Connection[Any],
    user_id: int,
    suggestion_id: str,
    *,
    action: store.Action,
    reason: str | None,
    days: int,
    answer: dict[str, Any],
) -> dict[str, Any] | None:
    """Record an answer to a suggestion the user was shown in ``answer`` (its position and form are kept with it);
    accept creates the workflow and returns it."""
    position, shown = position_of(answer, suggestion_id)
    workflow = _suggested_workflow(conn, user_id, suggestion_id) if action == "accept" else None
    return store.record_feedback(
        conn, user_id, suggestion_id, action=action, reason=reason, days=days, position=position, shown=shown,
        workflow=workflow,
    )  # fmt: skip
