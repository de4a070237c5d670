"""The API application: routes, error mapping, middleware and the engine's lifespan."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import psycopg
import sqlalchemy.exc
from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

import floyo
from floyo.auth import jwt_key
from floyo.db import get_engine, reset_engine
from floyo.errors import FloyoError, RateLimited, Unauthorized
from floyo.logs import configure_logging
from floyo.settings import Settings, get_settings
from ingest.docs import install_docs
from ingest.middleware import RequestContextMiddleware
from ingest.ratelimit import auth_failure_limiter, request_limiter
from ingest.responses import INTERNAL_ERROR, OrjsonResponse
from ingest.routes import events, health, telemetry
from ingest.streaming import ConcurrencyLimiter

log = logging.getLogger(__name__)


def _error(status: int, code: str, message: str, details: Any = None) -> OrjsonResponse:
    return OrjsonResponse({"error": {"code": code, "message": message, "details": details}}, status_code=status)


async def _floyo_error(_: Request, exc: Exception) -> OrjsonResponse:
    assert isinstance(exc, FloyoError)
    response = _error(exc.status_code, exc.code, exc.message, exc.details)
    if isinstance(exc, RateLimited):
        response.headers["retry-after"] = str(max(1, round(exc.retry_after + 0.5)))
    elif isinstance(exc, Unauthorized):  # RFC 9110: a 401 names the scheme to use
        response.headers["www-authenticate"] = 'Bearer realm="floyo"'
    return response


async def _validation_error(_: Request, exc: Exception) -> OrjsonResponse:
    assert isinstance(exc, RequestValidationError)
    details = [{"loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors()]
    return _error(422, "invalid_request", "the request's parameters are invalid", details)


async def _http_error(_: Request, exc: Exception) -> OrjsonResponse:
    assert isinstance(exc, StarletteHTTPException)
    response = _error(exc.status_code, f"http_{exc.status_code}", str(exc.detail))
    response.headers.update(exc.headers or {})  # e.g. Allow on a 405
    return response


async def _database_down(_: Request, exc: Exception) -> OrjsonResponse:
    log.error("database unavailable: %s", type(exc).__name__)
    response = _error(503, "database_unavailable", "the database is unavailable; retry later")
    response.headers["retry-after"] = "5"
    return response


async def _pool_exhausted(_: Request, exc: Exception) -> OrjsonResponse:
    # every connection is busy (a burst, slow queries): the client should come back, the server is not broken
    log.warning("connection pool exhausted: %s", exc)
    response = _error(503, "database_busy", "all database connections are busy; retry shortly")
    response.headers["retry-after"] = "2"
    return response


async def _unexpected(_: Request, exc: Exception) -> OrjsonResponse:
    log.exception("unhandled error", exc_info=exc)
    return OrjsonResponse(INTERNAL_ERROR.model_dump(), status_code=500)


def with_event_schemas(app: FastAPI) -> None:
    """Publish the telemetry body's schema, which the route reads by hand for per-event answers."""
    base_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = base_openapi()
        batch = telemetry.TelemetryBatch.model_json_schema(ref_template="#/components/schemas/{model}")
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.update(batch.pop("$defs", {}))
        components["TelemetryBatch"] = batch
        body = schema["paths"]["/api/v1/telemetry"]["post"]["requestBody"]["content"]["application/json"]
        body["schema"] = {"$ref": "#/components/schemas/TelemetryBatch"}
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """The engine, created at startup and disposed of at shutdown (serving's lifespan wraps this one)."""
    app.state.engine = get_engine()
    log.info("floyo api ready", extra={"version": floyo.__version__})
    yield
    reset_engine()
    log.info("floyo api stopped")


def configure_app(app: FastAPI, settings: Settings) -> None:
    """What every Floyo app has: its settings, the rate limiter, the request middleware and the error mapping."""
    jwt_key(settings)  # generated on first start (or refused now, not at the first person's request)
    app.state.settings = settings
    app.state.limiter = request_limiter(settings)
    app.state.auth_failures = auth_failure_limiter(settings)
    app.state.exports = ConcurrencyLimiter(settings.max_exports_per_user)
    app.add_middleware(RequestContextMiddleware)
    app.add_exception_handler(FloyoError, _floyo_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(sqlalchemy.exc.OperationalError, _database_down)
    app.add_exception_handler(psycopg.OperationalError, _database_down)
    app.add_exception_handler(sqlalchemy.exc.TimeoutError, _pool_exhausted)
    app.add_exception_handler(Exception, _unexpected)
    install_docs(app)


ROUTERS = (telemetry.router, events.router, health.router)


def build_app(
    settings: Settings,
    *,
    description: str,
    routers: Iterable[APIRouter] = ROUTERS,
    app_lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]] = lifespan,
) -> FastAPI:
    """A Floyo API: logging, error mapping, middleware, limits, offline docs, then ``routers`` (ingest's own and,
    in ``serving.app``, the rest) and the telemetry body's published schema."""
    configure_logging(settings.log_level, settings.log_format)
    app = FastAPI(
        title="Floyo",
        version=floyo.__version__,
        description=description,
        lifespan=app_lifespan,
        default_response_class=OrjsonResponse,
    )
    configure_app(app, settings)
    for router in routers:
        app.include_router(router)
    with_event_schemas(app)
    return app


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the ingest API alone (``floyo serve`` serves ``serving.app``, which mounts these routes too)."""
    return build_app(settings or get_settings(), description="Telemetry ingest and event access for Floyo.")
