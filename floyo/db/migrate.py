"""Alembic, driven from code so that it works from an installed package: upgrade, downgrade, status."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, create_engine, pool

from floyo.db.engine import resolve_database_url

_SCRIPT_DIR = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(database_url: str | None = None) -> Config:
    """An Alembic config pointing at Floyo's migrations and the given (or resolved) database."""
    cfg = Config()
    cfg.set_main_option("script_location", str(_SCRIPT_DIR))
    cfg.attributes["database_url"] = database_url or resolve_database_url()
    return cfg


def upgrade(database_url: str | None = None, revision: str = "head") -> None:
    """Migrate the database up to ``revision``."""
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str | None = None, revision: str = "base") -> None:
    """Migrate the database down to ``revision``."""
    command.downgrade(alembic_config(database_url), revision)


def head_revision() -> str:
    """The newest migration in the code."""
    head = ScriptDirectory.from_config(alembic_config("postgresql+psycopg://unused")).get_current_head()
    assert head is not None
    return head


def current_revision(connection: Connection) -> str | None:
    """The revision the connected database is at (None when never migrated)."""
    return MigrationContext.configure(connection).get_current_revision()


def status(database_url: str | None = None) -> tuple[str | None, str]:
    """(current, head) revisions of the database."""
    engine = create_engine(database_url or resolve_database_url(), poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            return current_revision(conn), head_revision()
    finally:
        engine.dispose()
