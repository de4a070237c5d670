"""A JSON response rendered by orjson (fast, and handles datetimes and UUIDs)."""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import BaseModel
from starlette.responses import JSONResponse


class OrjsonResponse(JSONResponse):
    """``application/json`` rendered with orjson (a JSONResponse, so the OpenAPI shows the route's model)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


class ErrorDetail(BaseModel):
    """What went wrong: a stable machine-readable ``code``, a message for people, and details when useful."""

    code: str
    message: str
    details: Any = None


class ErrorBody(BaseModel):
    """The body of every error answer."""

    error: ErrorDetail


# the one 500 body, written by the app's handler and by the middleware when an error escapes after it
INTERNAL_ERROR = ErrorBody(
    error=ErrorDetail(
        code="internal_error", message="an unexpected error occurred; it has been logged with the request id"
    )
)


def error_responses(codes: dict[int, str]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for these statuses, each with the error body and its description."""
    return {code: {"model": ErrorBody, "description": text} for code, text in codes.items()}


# what any authenticated route may answer besides its own
AUTH_ERRORS = error_responses({
    401: "missing, malformed, unknown, revoked or expired token",
    422: "invalid parameters",
    429: "rate limited, or too many authentication failures from this address (see Retry-After)",
    503: "database unavailable or all its connections busy (see Retry-After)",
})  # fmt: skip
