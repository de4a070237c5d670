"""GET /api/v1/suggestions and POST /api/v1/suggestions/{id}/feedback."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Depends, Path, Query
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ingest.deps import ACT_FOR_ERRORS, ScopedConn, UserQuery, protected_router
from ingest.responses import OrjsonResponse, error_responses
from serving.answers import give_feedback, limited, suggestions_answer
from serving.answers_schema import SuggestionsAnswer, ok
from serving.deps import CacheDep, ChampionsDep, ScopedUser
from serving.routes.body import json_object
from serving.routes.workflows import Workflow
from serving.workflow_state import with_state

router = protected_router(tags=["suggestions"])
DEFAULT_SNOOZE_DAYS = 7


class Feedback(BaseModel):
    """An answer to a suggestion: accept (creates its workflow), dismiss, or snooze for ``days`` (default 7)."""

    model_config = ConfigDict(extra="forbid")

    action: Literal["accept", "dismiss", "snooze"]
    reason: str | None = Field(default=None, max_length=2000)
    days: int | None = Field(default=None, ge=1, le=365)

    @field_validator("reason")
    @classmethod
    def _no_nul(cls, value: str | None) -> str | None:
        if value is not None and "\x00" in value:  # PostgreSQL text cannot hold it
            raise ValueError("reason contains a NUL character")
        return value

    @model_validator(mode="after")
    def _days_for_snooze(self) -> Feedback:
        if self.days is not None and self.action != "snooze":
            raise ValueError("days applies to snooze only")
        return self


class FeedbackAnswer(BaseModel):
    """What was recorded: the workflow an accept created (else null), the days of a snooze."""

    suggestion_id: str
    action: Literal["accept", "dismiss", "snooze"]
    workflow: Workflow | None
    days: int | None = Field(default=None, description="snooze only")


_ERRORS = {
    **ACT_FOR_ERRORS,
    **error_responses({
        404: "no such user, or no such suggestion (or another user's)",
        409: "the suggestion was accepted already",
        422: "unknown action, days outside 1-365, reason over 2,000 characters",
    }),
}  # fmt: skip


@router.get("/api/v1/suggestions", responses={**ok(SuggestionsAnswer, "the suggestions, best first"), **ACT_FOR_ERRORS})
def get_suggestions(
    scope: ScopedConn,
    champions: ChampionsDep,
    cache: CacheDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
    user: UserQuery = None,
) -> OrjsonResponse:
    """The user's suggestions, best first: ``{"suggestions", "model_version", "ranker"}`` (plus ``activity`` when
    there is too little activity to suggest anything)."""
    # the user is resolved here rather than by a dependency: one thread hop less on the hottest route
    user_id = scope.act_for(user)
    answer = suggestions_answer(scope.conn, user_id, cache=cache, ranker=champions.ranker)
    return OrjsonResponse(limited(answer, limit))


@router.post(
    "/api/v1/suggestions/{suggestion_id}/feedback",
    response_model=FeedbackAnswer,
    responses=_ERRORS,
    openapi_extra={
        "requestBody": {"required": True, "content": {"application/json": {"schema": Feedback.model_json_schema()}}}
    },
)
def post_feedback(
    scope: ScopedConn,
    user_id: ScopedUser,
    champions: ChampionsDep,
    cache: CacheDep,
    body: Annotated[dict[str, Any], Depends(json_object())],
    suggestion_id: Annotated[str, Path(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$")],
) -> OrjsonResponse:
    """Accept (the workflow is created and returned), dismiss or snooze a suggestion; recorded with what was shown
    and where, so the ranker learns from it."""
    try:
        feedback = Feedback.model_validate(body)
    except ValidationError as exc:  # the same 422 as any request parameter, with each field's problem
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]) from None
    answer = suggestions_answer(scope.conn, user_id, cache=cache, ranker=champions.ranker)
    days = feedback.days or DEFAULT_SNOOZE_DAYS
    created = give_feedback(
        scope.conn, user_id, suggestion_id, action=feedback.action, reason=feedback.reason, days=days, answer=answer
    )
    scope.commit()  # the answer is never ahead of the database
    workflow = None if created is None else with_state(scope.conn, user_id, [created])[0]
    result: dict[str, Any] = {"suggestion_id": suggestion_id, "action": feedback.action, "workflow": workflow}
    if feedback.action == "snooze":
        result["days"] = days
    return OrjsonResponse(result)
