"""Test databases, owned by a NOSUPERUSER role as on a managed service.

The superuser URL (FLOYO_TEST_DATABASE_URL, or Floyo's embedded PostgreSQL) is used only to create that
owner role (``<database>_owner``: LOGIN, NOSUPERUSER, CREATEROLE, NOBYPASSRLS) and the databases it owns;
every test and the migrations connect as the owner.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy import make_url

from floyo.db.engine import psycopg_conninfo

REPO = Path(__file__).resolve().parents[2]
EMBEDDED_TEST_PG = Path(os.environ.get("FLOYO_TEST_PG_DIR", REPO / ".cache" / "test-pg"))


@cache
def superuser_database_url() -> str:
    """SQLAlchemy URL of the test database as the superuser: FLOYO_TEST_DATABASE_URL, or the embedded server."""
    url = os.environ.get("FLOYO_TEST_DATABASE_URL")
    if url:
        for prefix in ("postgresql://", "postgres://"):
            if url.startswith(prefix):
                url = "postgresql+psycopg://" + url[len(prefix) :]
        return url
    from floyo.db.embedded import ensure_embedded_database

    return ensure_embedded_database(EMBEDDED_TEST_PG, "floyo_test")


def owner_role(database: str) -> str:
    """The owner role of a test database: named after it, so engineers sharing a cluster never collide."""
    return f"{database}_owner"


def _superuser(url: str | None = None) -> dict[str, object]:
    info = psycopg_conninfo(url or superuser_database_url())
    info["dbname"] = "postgres"
    return info


def _as_owner(superuser_url: str, role: str, database: str) -> str:
    # the password only matters where the server asks for one; trust-auth servers ignore it
    return (
        make_url(superuser_url)
        .set(username=role, password=role, database=database)
        .render_as_string(hide_password=False)
    )


def ensure_owner_role(conn: psycopg.Connection[Any], role: str) -> None:
    """Create the NOSUPERUSER owner role if missing (idempotent: clusters are shared), as a managed service has it."""
    attributes = sql.SQL("LOGIN NOSUPERUSER CREATEROLE NOBYPASSRLS PASSWORD {}").format(sql.Literal(role))
    # concurrent sessions may race to create the same role: serialise on a cluster-wide advisory lock
    conn.execute("SELECT pg_advisory_lock(hashtext('floyo_test_roles'))")
    try:
        if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone():
            conn.execute(sql.SQL("ALTER ROLE {} ").format(sql.Identifier(role)) + attributes)
        else:
            conn.execute(sql.SQL("CREATE ROLE {} ").format(sql.Identifier(role)) + attributes)
        _as_fresh_managed_owner(conn, role)
    finally:
        conn.execute("SELECT pg_advisory_unlock(hashtext('floyo_test_roles'))")


_MEMBERSHIPS = """
SELECT g.rolname FROM pg_auth_members am JOIN pg_roles g ON g.oid = am.grantor
WHERE am.roleid = (SELECT oid FROM pg_roles WHERE rolname = 'floyo_user')
  AND am.member = (SELECT oid FROM pg_roles WHERE rolname = %s)
"""


def _as_fresh_managed_owner(conn: psycopg.Connection[Any], role: str) -> None:
    """Leave the owner only what a managed service's owner has, so the migrations must grant floyo_user themselves.

    Earlier runs left the owner a member of floyo_user: take that back. On PostgreSQL 16+ a CREATEROLE role may
    grant only roles it has ADMIN on; it gets that on roles it creates, but floyo_user may already exist
    (created by another owner or a superuser), so give ADMIN alone (no SET), as CREATE ROLE would have.
    """
    pg16 = conn.info.server_version >= 160000
    for _ in range(5):  # on 16+ each grantor's grant is its own row; CASCADE takes the grants made from it
        row = conn.execute(_MEMBERSHIPS, (role,)).fetchone()
        if row is None:
            break
        revoke = sql.SQL("REVOKE floyo_user FROM {}").format(sql.Identifier(role))
        if pg16:
            (grantor,) = row
            revoke += sql.SQL(" GRANTED BY {} CASCADE").format(sql.Identifier(str(grantor)))
        conn.execute(revoke)
    if pg16 and conn.execute("SELECT 1 FROM pg_roles WHERE rolname = 'floyo_user'").fetchone():
        conn.execute(
            sql.SQL("GRANT floyo_user TO {} WITH ADMIN TRUE, SET FALSE, INHERIT FALSE").format(sql.Identifier(role))
        )


def _create_owned_database(conn: psycopg.Connection[Any], name: str, role: str) -> None:
    conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(name), sql.Identifier(role)))


def test_database_url() -> str:
    """The test database, (re)created empty and owned by its NOSUPERUSER owner role: the URL as that owner."""
    superuser_url = superuser_database_url()
    name = make_url(superuser_url).database or "floyo_test"
    role = owner_role(name)
    with psycopg.connect(**_superuser(superuser_url), autocommit=True) as conn:  # type: ignore[arg-type]
        ensure_owner_role(conn, role)
        _create_owned_database(conn, name, role)
    return _as_owner(superuser_url, role, name)


def reset_database(url: str) -> None:
    """Create the database if missing and empty it (drop and recreate the public schema); for the benchmarks."""
    name = make_url(url).database or "floyo_test"
    with psycopg.connect(**_superuser(url), autocommit=True) as conn:  # type: ignore[arg-type]
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    with psycopg.connect(**psycopg_conninfo(url), autocommit=True) as conn:
        conn.execute("DROP SCHEMA IF EXISTS public CASCADE")
        conn.execute("DROP TYPE IF EXISTS event_kind CASCADE")
        conn.execute("CREATE SCHEMA public")


@contextmanager
def scratch_database(url: str) -> Iterator[str]:
    """A fresh, empty database on the same server as ``url``, owned by ``url``'s role, dropped afterwards."""
    owner = make_url(url)
    role = owner.username or "postgres"
    name = f"{owner.database}_scratch_{uuid.uuid4().hex[:10]}"
    scratch = owner.set(database=name).render_as_string(hide_password=False)
    with psycopg.connect(**_superuser(), autocommit=True) as conn:  # type: ignore[arg-type]
        conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(name), sql.Identifier(role)))
    try:
        yield scratch
    finally:
        with psycopg.connect(**_superuser(), autocommit=True) as conn:  # type: ignore[arg-type]
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@contextmanager
def migrated_scratch_database(url: str) -> Iterator[str]:
    """A fresh database on the same server as ``url``, migrated to head, dropped afterwards."""
    from floyo.db import migrate

    with scratch_database(url) as scratch:
        migrate.upgrade(scratch)
        yield scratch
