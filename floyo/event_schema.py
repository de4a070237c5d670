"""The one registry of the ``events`` columns; every other list of them is derived from it.

Each column says its PostgreSQL type (the ``udt_name`` of ``information_schema.columns``), its Arrow type in the
lake, whether it may be null, who sets it (the client, the server or the database) and where it goes (the lake,
the events API). Derived once at import, never per batch:

- the binary COPY column order and types (``ingest/store.py``; its row builder is generated from this order),
- the SQLAlchemy ``events`` table (``floyo/db/tables.py``),
- the lake's Arrow schema and export select list (``ingest/lake_files.py``, ``ingest/lake_read.py``),
  ``features.lake``'s empty schema,
- the events API's column list and its Parquet export schema (``ingest/queries.py``).

Adding a column (docs/lake.md says it step by step): a ``Column`` here, in the position the migration gives it (new
columns go last), and a migration that adds it. A column the client sends also needs its field and validation in
``floyo.events.Event`` / ``ValidEvent`` / ``fast_validate`` under the same name; a server column needs its value in
``ingest/store.py``'s ``_VALUES``. ``tests/test_event_schema.py`` checks the registry against the migration head, the
lake and the event model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import pyarrow as pa

Source = Literal["client", "server", "database"]

# How a PostgreSQL type travels in binary COPY from plain Python values (ingest/store.py): a uuid as its 16 bytes
# and jsonb as a version byte then the JSON text, both sent as raw bytes (bytea); an enum as its label, like text.
COPY_TYPE = {
    "int8": "int8", "int4": "int4", "timestamptz": "timestamptz", "text": "text",
    "uuid": "bytea", "jsonb": "bytea", "event_kind": "text",
}  # fmt: skip
# PostgreSQL types the lake stores as text: ADBC would hand them over as Arrow extension types that polars and
# DuckDB read poorly (docs/lake.md).
AS_TEXT_IN_LAKE = frozenset({"uuid", "event_kind", "jsonb"})
# ... of which the export's query casts these to text; uuid and jsonb travel in binary (16 bytes, not 36
# characters: 15 % less PostgreSQL CPU) and become text in the exporter (ingest.lake_read.as_lake_table).
CAST_IN_EXPORT = frozenset({"event_kind"})
ARROW_TYPES = ("int64", "int32", "string", "timestamp[us, tz=UTC]")


@dataclass(frozen=True, slots=True)
class Column:
    """One column of ``events``."""

    name: str
    pg_type: str  # information_schema.columns.udt_name
    arrow: str  # one of ARROW_TYPES
    nullable: bool
    source: Source  # who sets the value: the agent's event, the ingest server, or a database default
    lake: bool = True  # exported to the Parquet lake
    api: bool = True  # returned by the events API (GET /api/v1/events and its exports)


EVENT_COLUMNS: tuple[Column, ...] = (
    Column("seq", "int8", "int64", False, "database"),  # the export watermark, from events_seq
    Column("event_id", "uuid", "string", False, "client"),
    Column("user_id", "int8", "int64", False, "server", api=False),  # from the device token
    Column("device_id", "int8", "int64", False, "server"),  # the API returns the device's name instead
    Column("ts", "timestamptz", "timestamp[us, tz=UTC]", False, "server"),  # client time + skew
    Column("client_ts", "timestamptz", "timestamp[us, tz=UTC]", False, "client"),  # the event's ``ts`` as sent
    Column("skew_ms", "int8", "int64", False, "server"),
    Column("received_at", "timestamptz", "timestamp[us, tz=UTC]", False, "server"),
    Column("kind", "event_kind", "string", False, "client"),
    Column("root", "text", "string", False, "client"),
    Column("path", "text", "string", False, "client"),
    Column("ext", "text", "string", False, "client"),
    Column("dest_path", "text", "string", True, "client"),
    Column("tool", "text", "string", True, "client"),
    Column("exit_code", "int4", "int32", True, "client"),
    Column("duration_ms", "int8", "int64", True, "client"),
    Column("meta", "jsonb", "string", True, "client"),
)
BY_NAME = {c.name: c for c in EVENT_COLUMNS}
# COPY writes every column but those the database fills itself, in the registry's order
COPY_COLUMNS: tuple[str, ...] = tuple(c.name for c in EVENT_COLUMNS if c.source != "database")
COPY_TYPES: tuple[str, ...] = tuple(COPY_TYPE[BY_NAME[name].pg_type] for name in COPY_COLUMNS)
LAKE_COLUMNS: tuple[str, ...] = tuple(c.name for c in EVENT_COLUMNS if c.lake)
API_COLUMNS: tuple[str, ...] = tuple(c.name for c in EVENT_COLUMNS if c.api)
# the fields of the agent's event: its ``ts`` is stored as ``client_ts`` (and, corrected, as ``ts``)
CLIENT_FIELDS: tuple[str, ...] = tuple(
    "ts" if c.name == "client_ts" else c.name for c in EVENT_COLUMNS if c.source == "client"
)


def lake_select() -> str:
    """The select list that reads the lake's columns from ``events`` (the enum cast to text, see CAST_IN_EXPORT)."""
    return ", ".join(
        f"{c.name}::text AS {c.name}" if c.pg_type in CAST_IN_EXPORT else c.name for c in EVENT_COLUMNS if c.lake
    )


def arrow_type(name: str) -> pa.DataType:
    """The Arrow type of an ``ARROW_TYPES`` name."""
    import pyarrow as pa

    types = {"int64": pa.int64(), "int32": pa.int32(), "string": pa.string(), "timestamp[us, tz=UTC]": pa.timestamp("us", tz="UTC")}  # fmt: skip
    return types[name]


def lake_schema() -> pa.Schema:
    """The lake's Arrow schema: the exported columns in registry order (``date`` lives in the directory name)."""
    import pyarrow as pa

    return pa.schema([(c.name, arrow_type(c.arrow)) for c in EVENT_COLUMNS if c.lake])
