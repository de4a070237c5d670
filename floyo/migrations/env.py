"""Alembic environment: runs migrations on the engine Floyo resolves from its settings."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from floyo.db.engine import resolve_database_url

config = context.config


def run_migrations_online() -> None:
    url = config.attributes.get("database_url") or resolve_database_url()
    connectable = create_engine(url, poolclass=pool.NullPool)
    with connectable.connect() as connection:
        context.configure(connection=connection, target_metadata=None, transaction_per_migration=True)
        with context.begin_transaction():
            context.run_migrations()
    connectable.dispose()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported: run `floyo db migrate`")
run_migrations_online()
