"""Dependencies the routes receive: settings, the engine, the calling principal."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request
from sqlalchemy import Engine

from floyo.auth import Principal, authenticate
from floyo.errors import Forbidden
from floyo.settings import Settings


def get_app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_app_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
EngineDep = Annotated[Engine, Depends(get_app_engine)]


def get_principal(
    request: Request,
    settings: SettingsDep,
    engine: EngineDep,
    authorization: Annotated[str | None, Header(description="Bearer device token or JWT")] = None,
) -> Principal:
    """Authenticate the caller, then apply its rate limit."""
    with engine.begin() as conn:
        principal = authenticate(conn, settings, authorization)
    key = f"d{principal.device_id}" if principal.device_id is not None else f"u{principal.user_id}"
    request.app.state.limiter.check(key)
    return principal


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


def get_admin(principal: CurrentPrincipal) -> Principal:
    if not principal.is_admin:
        raise Forbidden("admin_only", "this endpoint needs an admin")
    return principal


AdminPrincipal = Annotated[Principal, Depends(get_admin)]
