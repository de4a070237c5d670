"""Test databases: the server at FLOYO_TEST_DATABASE_URL, or Floyo's embedded PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from psycopg import sql
from sqlalchemy import make_url

from floyo.db.engine import psycopg_conninfo

REPO = Path(__file__).resolve().parents[2]
EMBEDDED_TEST_PG = Path(os.environ.get("FLOYO_TEST_PG_DIR", REPO / ".cache" / "test-pg"))


def test_database_url() -> str:
    """SQLAlchemy URL of the test database: FLOYO_TEST_DATABASE_URL, or ``floyo_test`` on the embedded server."""
    url = os.environ.get("FLOYO_TEST_DATABASE_URL")
    if url:
        for prefix in ("postgresql://", "postgres://"):
            if url.startswith(prefix):
                url = "postgresql+psycopg://" + url[len(prefix) :]
        return url
    from floyo.db.embedded import ensure_embedded_database

    return ensure_embedded_database(EMBEDDED_TEST_PG, "floyo_test")


def _admin_conninfo(url: str) -> dict[str, object]:
    info = psycopg_conninfo(url)
    info["dbname"] = "postgres"
    return info


def reset_database(url: str) -> None:
    """Create the database if missing and empty it (drop and recreate the public schema)."""
    name = make_url(url).database or "floyo_test"
    with psycopg.connect(**_admin_conninfo(url), autocommit=True) as conn:  # type: ignore[arg-type]
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    with psycopg.connect(**psycopg_conninfo(url), autocommit=True) as conn:
        conn.execute("DROP SCHEMA IF EXISTS public CASCADE")
        conn.execute("DROP TYPE IF EXISTS event_kind CASCADE")
        conn.execute("CREATE SCHEMA public")


@contextmanager
def scratch_database(url: str) -> Iterator[str]:
    """A fresh, empty database on the same server as ``url``, dropped afterwards."""
    name = f"floyo_scratch_{uuid.uuid4().hex[:10]}"
    scratch = make_url(url).set(database=name).render_as_string(hide_password=False)
    with psycopg.connect(**_admin_conninfo(url), autocommit=True) as conn:  # type: ignore[arg-type]
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield scratch
    finally:
        with psycopg.connect(**_admin_conninfo(url), autocommit=True) as conn:  # type: ignore[arg-type]
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@contextmanager
def migrated_scratch_database(url: str) -> Iterator[str]:
    """A fresh database on the same server as ``url``, migrated to head, dropped afterwards."""
    from floyo.db import migrate

    with scratch_database(url) as scratch:
        migrate.upgrade(scratch)
        yield scratch
