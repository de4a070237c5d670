"""What happens to a workflow on people's machines: a device's approval, the runs reported, the measured outcome."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import Depends, Query
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from floyo.errors import Forbidden
from ingest.deps import ACT_FOR_ERRORS, ScopedConn, protected_router
from ingest.responses import OrjsonResponse, error_responses
from serving.deps import ScopedUser
from serving.routes.body import json_object
from serving.routes.workflows import DeviceApproval, Workflow, WorkflowId
from serving.workflow_state import record_approval, workflow_outcome, workflow_runs

router = protected_router(tags=["workflows"])


class Approval(BaseModel):
    """What the person decided on their machine about one version of a workflow (the agent reports it)."""

    model_config = ConfigDict(extra="forbid")

    version: int = Field(ge=1, le=2**31 - 1, description="the version the person saw")
    definition_hash: str = Field(pattern=r"^[0-9a-f]{64}$", description="floyo.workflow_definition.definition_hash")
    state: Literal["approved", "rejected", "disabled"]
    reason: str | None = Field(
        default=None,
        max_length=500,
        pattern=r"^[^\x00]*$",
        description="why (e.g. the agent disabled it after failures)",
    )


class Run(BaseModel):
    """One run an agent reported (a ``run`` event with ``meta.workflow_id``)."""

    event_id: str
    run_id: str | None
    started_at: datetime
    duration_ms: int | None
    exit_code: int | None
    outcome: str | None = Field(description="ok, failed, timeout, cancelled, interrupted or skipped")
    version: int | None
    error: str | None
    tool: str | None
    root: str
    path: str
    device_id: int
    device: str | None


class Runs(BaseModel):
    runs: list[Run]


class Outcome(BaseModel):
    id: int
    adopted_at: datetime | None
    approvals: list[DeviceApproval]
    outcome: dict[str, Any] | None


_NOT_FOUND = error_responses({404: "no such workflow (or another user's)"})
_APPROVAL_ERRORS = error_responses({
    403: "a person's JWT: approvals come from a device (the agent)",
    409: "the hash is not the server's hash of that version (a stale or unknown version): fetch it again",
    422: "a body that is not an Approval",
})  # fmt: skip


@router.put(
    "/api/v1/workflows/{workflow_id}/approval",
    response_model=Workflow,
    responses={**_NOT_FOUND, **_APPROVAL_ERRORS},
    openapi_extra={
        "requestBody": {"required": True, "content": {"application/json": {"schema": Approval.model_json_schema()}}}
    },
)
def put_approval(
    scope: ScopedConn, workflow_id: WorkflowId, body: Annotated[dict[str, Any], Depends(json_object(16 * 1024))]
) -> OrjsonResponse:
    """Record this device's approval state of a workflow version; ``disabled`` also disables it on the server.
    The server never approves anything itself: only the person, on their machine."""
    device_id = scope.principal.device_id
    if device_id is None:
        raise Forbidden("device_token_required", "approvals are reported by the agent with its device token")
    try:
        approval = Approval.model_validate(body)
    except ValidationError as exc:  # the same 422 as any request parameter, with each field's problem
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]) from None
    shown = record_approval(
        scope.conn, scope.user_id, device_id, workflow_id, version=approval.version, hash_=approval.definition_hash,
        state=approval.state, reason=approval.reason,
    )  # fmt: skip
    scope.commit()  # the agent retries until it hears back: the answer is never ahead of the database
    return OrjsonResponse(shown)


@router.get("/api/v1/workflows/{workflow_id}/runs", response_model=Runs, responses={**_NOT_FOUND, **ACT_FOR_ERRORS})
def get_runs(
    scope: ScopedConn,
    user_id: ScopedUser,
    workflow_id: WorkflowId,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> OrjsonResponse:
    """The runs the agents reported for a workflow, newest first (started, duration, exit code, outcome, version,
    device)."""
    return OrjsonResponse({"runs": workflow_runs(scope.conn, user_id, workflow_id, limit)})


@router.get(
    "/api/v1/workflows/{workflow_id}/outcome", response_model=Outcome, responses={**_NOT_FOUND, **ACT_FOR_ERRORS}
)
def get_outcome(scope: ScopedConn, user_id: ScopedUser, workflow_id: WorkflowId) -> OrjsonResponse:
    """When the workflow was adopted, each device's approval, and what the job measured (null before it did)."""
    return OrjsonResponse(workflow_outcome(scope.conn, user_id, workflow_id))
