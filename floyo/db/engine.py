"""The SQLAlchemy engine, built lazily from the settings: external PostgreSQL or the embedded one."""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import Engine, create_engine, make_url

from floyo.settings import Settings, get_settings

_lock = threading.Lock()
_engine: Engine | None = None


def _with_driver(url: str) -> str:
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def resolve_database_url(settings: Settings | None = None) -> str:
    """The database URL: ``FLOYO_DATABASE_URL``, or the embedded server (started on demand)."""
    settings = settings or get_settings()
    if settings.database_url:
        return _with_driver(settings.database_url)
    from floyo.db.embedded import ensure_embedded_database

    return ensure_embedded_database(settings.embedded_pg_dir)


def get_engine() -> Engine:
    """The process-wide engine, created on first use."""
    global _engine
    with _lock:
        if _engine is None:
            settings = get_settings()
            _engine = create_engine(
                resolve_database_url(settings),
                pool_size=settings.db_pool_size,
                max_overflow=settings.db_pool_size,
                pool_timeout=settings.db_pool_timeout,
                pool_pre_ping=True,
            )
        return _engine


def reset_engine() -> None:
    """Dispose of the engine (tests, shutdown); the next ``get_engine`` builds a new one."""
    global _engine
    with _lock:
        if _engine is not None:
            _engine.dispose()
        _engine = None


def psycopg_conninfo(url: str) -> dict[str, Any]:
    """Keyword arguments for ``psycopg.connect`` from a SQLAlchemy URL."""
    u = make_url(url)
    kwargs: dict[str, Any] = {"dbname": u.database, "user": u.username or "postgres"}
    if u.password:
        kwargs["password"] = u.password
    if u.host:
        kwargs["host"] = u.host
    if u.port:
        kwargs["port"] = u.port
    for key, value in u.query.items():
        kwargs[key] = value if isinstance(value, str) else value[0]
    return kwargs
