"""Pure-ASGI middleware: request ids, one JSON access line, metrics and security headers per request."""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from floyo.logs import request_id_var
from ingest.metrics import LATENCY, REQUESTS
from ingest.responses import INTERNAL_ERROR

log = logging.getLogger("floyo.access")

_SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
    # API answers are data, never a page: nothing in them may load or run (the docs pages set their own)
    (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
]


_INTERNAL_ERROR_BODY = orjson.dumps(INTERNAL_ERROR.model_dump())
_INTERNAL_ERROR_START: Message = {
    "type": "http.response.start",
    "status": 500,
    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(_INTERNAL_ERROR_BODY)).encode())],
}


def _request_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"x-request-id" and 0 < len(value) <= 64 and value.isascii():
            return str(value.decode())
    return uuid.uuid4().hex


class RequestContextMiddleware:
    """Gives each request an id (honouring ``X-Request-ID``) and records what it did."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = _request_id(scope)
        token = request_id_var.set(rid)
        start = time.perf_counter()
        status = 500

        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                started = True
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", rid.encode()))
                present = {name.lower() for name, _ in headers}
                # a response's own policy or caching wins over the defaults (two policies would both apply)
                headers.extend(h for h in _SECURITY_HEADERS if h[0] not in present)
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            # handled here, inside the request's context, so the log line and the answer carry the request id
            log.exception("unhandled error")
            if started:
                raise
            await send_with_headers(dict(_INTERNAL_ERROR_START))
            await send_with_headers({"type": "http.response.body", "body": _INTERNAL_ERROR_BODY})
        finally:
            elapsed = time.perf_counter() - start
            route = _route_template(scope)
            REQUESTS.labels(scope["method"], route, str(status)).inc()
            LATENCY.labels(scope["method"], route).observe(elapsed)
            log.info(
                "%s %s %s", scope["method"], scope["path"], status,
                extra={"status": status, "duration_ms": round(elapsed * 1000, 2), "route": route},
            )  # fmt: skip
            request_id_var.reset(token)


def _route_template(scope: Scope) -> str:
    route: Any = scope.get("route")
    return getattr(route, "path", None) or "unmatched"
