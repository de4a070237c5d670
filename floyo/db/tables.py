"""The tables, as SQLAlchemy Core metadata for queries. The schema itself is owned by the Alembic migrations."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Enum,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

from floyo import event_schema
from floyo.events import EVENT_KINDS

metadata = MetaData()

users = Table(
    "users",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("name", Text, nullable=False, unique=True),
    Column("is_admin", Boolean, nullable=False, default=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

devices = Table(
    "devices",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("user_id", BigInteger, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("name", Text, nullable=False),
    Column("token_hash", LargeBinary, nullable=False, unique=True),
    Column("token_prefix", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_used_at", DateTime(timezone=True)),
    Column("revoked_at", DateTime(timezone=True)),
    UniqueConstraint("user_id", "name"),
)

event_kind = Enum(*EVENT_KINDS, name="event_kind", create_type=False)

_SQL_TYPES: dict[str, Any] = {
    "int8": BigInteger, "int4": Integer, "timestamptz": DateTime(timezone=True), "text": Text,
    "uuid": UUID(as_uuid=True), "jsonb": JSONB, "event_kind": event_kind,
}  # fmt: skip

# the columns come from the registry (floyo/event_schema.py), the one list of them
events = Table(
    "events",
    metadata,
    *(Column(c.name, _SQL_TYPES[c.pg_type], nullable=c.nullable) for c in event_schema.EVENT_COLUMNS),
)

event_keys = Table(
    "event_keys",
    metadata,
    Column("user_id", BigInteger, primary_key=True),
    Column("event_id", UUID(as_uuid=True), primary_key=True),
)
