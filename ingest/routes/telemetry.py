"""POST /api/v1/telemetry: a batch of events from a device."""

from __future__ import annotations

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from floyo.errors import Forbidden
from floyo.events import Event
from ingest.deps import ScopedConn, SettingsDep, protected_router
from ingest.responses import OrjsonResponse, error_responses
from ingest.routes.body import read_json_body
from ingest.service import ingest_body

router = protected_router(tags=["telemetry"])


class TelemetryBatch(BaseModel):
    """The request body: when the batch left the device, and its events."""

    sent_at: str | None = None
    events: list[Event]


class RejectedEvent(BaseModel):
    index: int
    event_id: str | None
    reason: str


class TelemetryResult(BaseModel):
    """Per-event outcome: indices in ``duplicates`` and ``rejections`` were not stored; every other was."""

    accepted: int
    duplicate: int
    rejected: int
    duplicates: list[int]
    rejections: list[RejectedEvent]


_ERRORS = error_responses({
    400: "malformed JSON or gzip", 403: "not a device token", 413: "body or event count over the limit",
    415: "not application/json, or a gzip body of several members", 422: "body is not a batch",
})  # fmt: skip


@router.post(
    "/api/v1/telemetry",
    response_model=TelemetryResult,
    responses=_ERRORS,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": TelemetryBatch.model_json_schema(ref_template="#/components/schemas/{model}")
                }
            },
        }
    },
)
async def post_telemetry(request: Request, scope: ScopedConn, settings: SettingsDep) -> OrjsonResponse:
    """Store a device's batch of events; answers accepted / duplicate / rejected per event, after commit."""
    principal = scope.principal
    if principal.device_id is None:
        raise Forbidden("device_token_required", "telemetry must be sent with a device token, not a person's JWT")
    body = await read_json_body(request, settings.max_body_bytes)
    result = await run_in_threadpool(
        ingest_body, scope.scoped, settings, body, user_id=principal.user_id, device_id=principal.device_id
    )  # store_batch commits before returning: the answer is never ahead of the database
    return OrjsonResponse(result.as_dict())
