"""Database access: the engine (embedded or external PostgreSQL), tables, migrations and partitions."""

from floyo.db.engine import get_engine, psycopg_conninfo, reset_engine, resolve_database_url

__all__ = ["get_engine", "psycopg_conninfo", "reset_engine", "resolve_database_url"]
