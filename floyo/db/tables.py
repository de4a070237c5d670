"""The tables, as SQLAlchemy Core metadata for queries. The schema itself is owned by the Alembic migrations."""

from __future__ import annotations

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

events = Table(
    "events",
    metadata,
    Column("seq", BigInteger, nullable=False),
    Column("event_id", UUID(as_uuid=True), nullable=False),
    Column("user_id", BigInteger, nullable=False),
    Column("device_id", BigInteger, nullable=False),
    Column("ts", DateTime(timezone=True), nullable=False),
    Column("client_ts", DateTime(timezone=True), nullable=False),
    Column("skew_ms", BigInteger, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("kind", event_kind, nullable=False),
    Column("root", Text, nullable=False),
    Column("path", Text, nullable=False),
    Column("ext", Text, nullable=False),
    Column("dest_path", Text),
    Column("tool", Text),
    Column("exit_code", Integer),
    Column("duration_ms", BigInteger),
    Column("meta", JSONB),
)

event_keys = Table(
    "event_keys",
    metadata,
    Column("event_id", UUID(as_uuid=True), primary_key=True),
)

# The columns a client sends and the server stores, in COPY order.
EVENT_COPY_COLUMNS = (
    "event_id", "user_id", "device_id", "ts", "client_ts", "skew_ms", "received_at",
    "kind", "root", "path", "ext", "dest_path", "tool", "exit_code", "duration_ms", "meta",
)  # fmt: skip
