"""Dependencies the routes receive: settings, the engine, and the caller's scoped connection.

Every route that touches per-user data takes ``ScopedConn`` (or ``CurrentPrincipal``, which comes from it):
one transaction that runs as ``floyo_user`` with ``app.user_id`` set to the caller, so PostgreSQL's row
level security decides what the route may see and write. Routes mounted on ``protected_router`` get it
even when they do not ask; only the operations routes (health, readiness, metrics) do without.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Annotated, Any

import anyio
import psycopg
from fastapi import APIRouter, Depends, Header, Query, Request
from sqlalchemy import Engine

from floyo.auth import (
    Principal,
    authenticate_device,
    bearer_credential,
    is_device_token,
    principal_for_subject,
    user_by_name,
    verify_jwt,
)
from floyo.db.scoping import ScopedConnection, scoped_connection
from floyo.errors import Forbidden, NotFound, Unauthorized
from floyo.settings import Settings
from ingest.ratelimit import FailureLimiter, TokenBucketLimiter, auth_failure_limiter, request_limiter
from ingest.responses import AUTH_ERRORS, error_responses

log = logging.getLogger(__name__)


def get_app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_app_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
EngineDep = Annotated[Engine, Depends(get_app_engine)]


async def connection_slot(request: Request, engine: EngineDep) -> AsyncIterator[None]:
    """Wait on the event loop for one of the pool's connections to be free, hold it through the request.

    The scoped connection is checked out and given back in worker threads (40 by default). Were more requests than
    pooled connections to reach a thread, the threads would all wait on the pool while the requests holding its
    connections waited for a thread to finish in: a deadlock, every request failing after the pool's timeout. With
    at most pool-size requests past this point, no thread ever waits for a connection."""
    slots: anyio.CapacityLimiter | None = getattr(request.app.state, "connection_slots", None)
    if slots is None:  # one per app, sized by its engine's pool (QueuePool: size + overflow)
        pool: Any = engine.pool
        slots = anyio.CapacityLimiter(max(1, pool.size() + max(pool._max_overflow, 0)))
        request.app.state.connection_slots = slots
    async with slots:
        yield


@dataclass(slots=True)
class RequestScope:
    """The authenticated caller and the connection its request runs on (as ``floyo_user``, scoped to a user)."""

    principal: Principal
    scoped: ScopedConnection
    _closers: list[Callable[[], None]] = field(default_factory=list)

    @property
    def conn(self) -> psycopg.Connection[Any]:
        return self.scoped.conn

    @property
    def user_id(self) -> int:
        """The user whose rows the connection sees (the caller, or the user an admin named)."""
        assert self.scoped.user_id is not None
        return self.scoped.user_id

    def act_for(self, user: str | None) -> int:
        """Scope to the user an admin names (403 for anyone else, 404 for no such user); the scoped user's id."""
        if user is None or user == self.principal.user_name:
            return self.user_id
        if not self.principal.is_admin:
            raise Forbidden("not_your_events", "only an admin can act for another user")
        other = user_by_name(self.conn, user)
        if other is None:
            raise NotFound("no_such_user", f"no user named {user!r}")
        self.scoped.switch_to(other.user_id)
        return other.user_id

    def commit(self) -> None:
        """Commit the route's work now (before answering), keeping the scope for anything after."""
        self.scoped.commit()

    def on_close(self, closer: Callable[[], None]) -> None:
        """Run ``closer`` when the request is over (answered, failed or abandoned by its client), before the
        connection is committed and returned: a stream's cursor is closed on its own connection."""
        self._closers.append(closer)

    def close(self) -> None:
        """Run the closers, newest first; one failing does not keep the others from running."""
        while self._closers:
            try:
                self._closers.pop()()
            except Exception:
                log.exception("closing a request's stream failed")


def _limiters(request: Request, settings: Settings) -> tuple[TokenBucketLimiter, FailureLimiter]:
    """The app's request and authentication-failure limiters (made on first use by an app that set none)."""
    state = request.app.state
    if getattr(state, "limiter", None) is None:
        state.limiter = request_limiter(settings)
    if getattr(state, "auth_failures", None) is None:
        state.auth_failures = auth_failure_limiter(settings)
    return state.limiter, state.auth_failures


def client_address(request: Request) -> str:
    """The client's address (the proxy's, unless uvicorn is told to trust its forwarding headers)."""
    return request.client.host if request.client else "unknown"


def get_request_scope(
    request: Request,
    settings: SettingsDep,
    engine: EngineDep,
    _slot: Annotated[None, Depends(connection_slot)],
    authorization: Annotated[str | None, Header(description="Bearer device token or JWT")] = None,
) -> Iterator[RequestScope]:
    """Authenticate the caller, apply its rate limit, and yield its scoped connection; committed after the route.

    An address with too many recent authentication failures is refused before any database work, and so is a
    malformed header or a JWT that fails its checks (they need no database). The exit runs after the response
    is sent (so a streamed export keeps its cursor): a route whose answer depends on its writes being durable
    commits itself first (``RequestScope.commit``).
    """
    limiter, failures = _limiters(request, settings)
    address = client_address(request)
    failures.check(address)
    try:
        credential = bearer_credential(authorization)
        subject = None if is_device_token(credential) else verify_jwt(settings, credential)
    except Unauthorized:
        failures.record(address)
        raise
    answered = False
    try:
        with scoped_connection(engine) as scoped:
            try:
                if subject is None:
                    principal = authenticate_device(scoped.conn, credential)
                else:
                    principal = principal_for_subject(scoped.conn, subject)
            except Unauthorized:
                failures.record(address)
                raise
            # the token check may stamp last_used_at: commit it now, so no device row lock is held for the request
            scoped.commit()
            key = f"d{principal.device_id}" if principal.device_id is not None else f"u{principal.user_id}"
            limiter.check(key)
            scoped.switch_to(principal.user_id)
            scope = RequestScope(principal, scoped)
            try:
                yield scope
                answered = True
            finally:
                scope.close()
    except psycopg.OperationalError as exc:
        if not answered:
            raise  # before the answer: the app's handler makes it a 503
        # the exit runs after the answer was sent (routes whose writes must be durable committed already):
        # a database that went away now cannot change the answer, so this is a warning, not an unhandled error
        log.warning("the request's closing commit failed after its answer was sent: %s", exc)


ScopedConn = Annotated[RequestScope, Depends(get_request_scope)]


def get_principal(scope: ScopedConn) -> Principal:
    """The authenticated caller (from the request's scoped connection)."""
    return scope.principal


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]
# what a route that takes ``user=`` may answer besides its own: RequestScope.act_for's refusals (FastAPI cannot
# attach responses to a dependency)
ACT_FOR_ERRORS = error_responses({403: "only an admin may name another user", 404: "no such user"})
# ``user=`` of the routes where an admin may act for another user: a name, never a control character (PostgreSQL
# text cannot hold NUL: refused here as a 422 instead of failing in the look-up)
UserQuery = Annotated[
    str | None,
    Query(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$", description="admins only: another user's name"),
]


def get_admin(principal: CurrentPrincipal) -> Principal:
    if not principal.is_admin:
        raise Forbidden("admin_only", "this endpoint needs an admin")
    return principal


AdminPrincipal = Annotated[Principal, Depends(get_admin)]


def protected_router(**kwargs: Any) -> APIRouter:
    """A router whose every route authenticates and runs scoped, whether or not it asks for ``ScopedConn``."""
    kwargs["responses"] = {**AUTH_ERRORS, **kwargs.get("responses", {})}
    return APIRouter(dependencies=[Depends(get_request_scope)], **kwargs)
