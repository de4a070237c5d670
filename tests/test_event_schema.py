"""The event registry agrees with the migration head, the lake, the event model and everything derived from it."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import psycopg
import pyarrow.parquet as pq
from sqlalchemy import text

from features import lake
from floyo import event_schema
from floyo.db import psycopg_conninfo
from floyo.db.tables import events as events_table
from floyo.event_schema import EVENT_COLUMNS
from floyo.events import Event, ValidEvent
from ingest import queries, store
from ingest.lake_export import LAKE_SCHEMA, export_lake
from tests.features.helpers import days_ago, events_at, lake_db, lake_files
from tests.utils.db import migrated_scratch_database


def test_the_registry_is_the_migration_head(database_url: str) -> None:
    with (
        migrated_scratch_database(database_url) as url,
        psycopg.connect(**psycopg_conninfo(url)) as conn,
    ):
        rows = conn.execute(
            "SELECT column_name, udt_name, is_nullable = 'YES', column_default IS NOT NULL"
            " FROM information_schema.columns WHERE table_schema = 'public' AND table_name = 'events'"
            " ORDER BY ordinal_position"
        ).fetchall()
    assert rows == [(c.name, c.pg_type, c.nullable, c.source == "database") for c in EVENT_COLUMNS]


def test_what_is_derived_follows_the_registry() -> None:
    assert [c.name for c in events_table.columns] == [c.name for c in EVENT_COLUMNS]
    assert [c.nullable for c in events_table.columns] == [c.nullable for c in EVENT_COLUMNS]
    assert "seq" not in event_schema.COPY_COLUMNS
    # telemetry is COPYed into a staging table, then INSERTed into events under RLS (docs/decisions.md)
    assert store._COPY_SQL.startswith("COPY floyo_batch (event_id, user_id, device_id, ts, client_ts")
    assert store._MOVE_SQL.startswith("INSERT INTO events (event_id, user_id, device_id, ts, client_ts")
    assert event_schema.COPY_TYPES[event_schema.COPY_COLUMNS.index("exit_code")] == "int4"  # what the store sets
    assert LAKE_SCHEMA.names == [c.name for c in EVENT_COLUMNS if c.lake]
    assert list(lake.EVENTS_SCHEMA) == [*LAKE_SCHEMA.names, "date"]
    # the API's order is a published contract: deriving it must not move a column
    assert queries.EXPORT_COLUMNS == (
        "seq", "event_id", "ts", "client_ts", "skew_ms", "received_at", "device", "kind", "root", "path", "ext",
        "dest_path", "tool", "exit_code", "duration_ms", "meta",
    )  # fmt: skip
    assert queries._SELECT.count(",") == len(queries.EXPORT_COLUMNS) - 1


def test_the_client_columns_are_the_event_models_fields() -> None:
    assert tuple(Event.model_fields) == event_schema.CLIENT_FIELDS
    assert ValidEvent._fields == event_schema.CLIENT_FIELDS


def test_the_lake_files_have_the_registrys_schema(database_url: str, tmp_path: Path) -> None:
    with lake_db(database_url, tmp_path / "data") as ldb:
        ldb.ingest(events_at(days_ago(2), 3, step=timedelta(minutes=1)))
        ldb.ingest(events_at(days_ago(1), 2, kind="run", path="", tool="pytest", exit_code=2, duration_ms=5, meta={}))
        assert export_lake(ldb.engine, ldb.settings).exported == 5
        files = lake_files(ldb.settings.lake_path)
        assert files
        for file in files:
            schema = pq.read_schema(file)
            assert schema.names == [c.name for c in EVENT_COLUMNS if c.lake]
            assert [str(t) for t in schema.types] == [c.arrow for c in EVENT_COLUMNS if c.lake]
        read = lake.events(path=ldb.settings.lake_path).collect()
        assert read.schema == lake.EVENTS_SCHEMA
        with ldb.engine.connect() as conn:
            stored = conn.execute(text("SELECT exit_code, duration_ms, meta FROM events WHERE kind = 'run'")).all()
        assert [tuple(r) for r in stored] == [(2, 5, {}), (2, 5, {})]
        assert read.filter(kind="run")["meta"].to_list() == ["{}", "{}"]
