"""Dependencies the routes receive: settings, the engine, and the caller's scoped connection.

Every route that touches per-user data takes ``ScopedConn`` (or ``CurrentPrincipal``, which comes from it):
one transaction that runs as ``floyo_user`` with ``app.user_id`` set to the caller, so PostgreSQL's row
level security decides what the route may see and write. Routes mounted on ``protected_router`` get it
even when they do not ask; only the operations routes (health, readiness, metrics) do without.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Annotated, Any

import anyio
import psycopg
from fastapi import APIRouter, Depends, Header, Request
from sqlalchemy import Engine

from floyo.auth import Principal, authenticate, user_by_name
from floyo.db.scoping import ScopedConnection, scoped_connection
from floyo.errors import Forbidden, NotFound
from floyo.settings import Settings


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


def get_request_scope(
    request: Request,
    settings: SettingsDep,
    engine: EngineDep,
    _slot: Annotated[None, Depends(connection_slot)],
    authorization: Annotated[str | None, Header(description="Bearer device token or JWT")] = None,
) -> Iterator[RequestScope]:
    """Authenticate the caller, apply its rate limit, and yield its scoped connection; committed after the route.

    The exit runs after the response is sent (so a streamed export keeps its cursor): a route whose answer
    depends on its writes being durable commits itself first (``RequestScope.commit``).
    """
    with scoped_connection(engine) as scoped:
        principal = authenticate(scoped.conn, settings, authorization)
        # the token check may stamp last_used_at: commit it now, so no device row lock is held for the request
        scoped.commit()
        key = f"d{principal.device_id}" if principal.device_id is not None else f"u{principal.user_id}"
        request.app.state.limiter.check(key)
        scoped.switch_to(principal.user_id)
        yield RequestScope(principal, scoped)


ScopedConn = Annotated[RequestScope, Depends(get_request_scope)]


def get_principal(scope: ScopedConn) -> Principal:
    """The authenticated caller (from the request's scoped connection)."""
    return scope.principal


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


def get_admin(principal: CurrentPrincipal) -> Principal:
    if not principal.is_admin:
        raise Forbidden("admin_only", "this endpoint needs an admin")
    return principal


AdminPrincipal = Annotated[Principal, Depends(get_admin)]


def protected_router(**kwargs: Any) -> APIRouter:
    """A router whose every route authenticates and runs scoped, whether or not it asks for ``ScopedConn``."""
    return APIRouter(dependencies=[Depends(get_request_scope)], **kwargs)
