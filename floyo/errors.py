"""One error hierarchy: services raise these; the API and the CLI map them to answers."""

from __future__ import annotations

from typing import Any


class FloyoError(Exception):
    """An expected failure with a machine-readable ``code`` and a human ``message``."""

    status_code = 400

    def __init__(self, code: str, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details

    def to_body(self) -> dict[str, Any]:
        """The error body every endpoint answers with."""
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


class InvalidInput(FloyoError):
    status_code = 422


class MalformedRequest(FloyoError):
    status_code = 400


class Unauthorized(FloyoError):
    status_code = 401


class Forbidden(FloyoError):
    status_code = 403


class NotFound(FloyoError):
    status_code = 404


class Conflict(FloyoError):
    status_code = 409


class PayloadTooLarge(FloyoError):
    status_code = 413


class UnsupportedMediaType(FloyoError):
    status_code = 415


class RateLimited(FloyoError):
    status_code = 429

    def __init__(self, code: str, message: str, retry_after: float) -> None:
        super().__init__(code, message, {"retry_after_seconds": round(retry_after, 3)})
        self.retry_after = retry_after


class Unavailable(FloyoError):
    status_code = 503
