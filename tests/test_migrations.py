"""Alembic migrations on scratch databases: up, down, up again, step by step; monthly partitions on demand."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, inspect, pool, text

from floyo.db import migrate
from floyo.db.tables import events as events_table
from floyo.settings import Settings
from ingest.service import ingest_events
from tests.utils.db import scratch_database
from tests.utils.factories import make_device, make_event

TABLES = {"users", "devices", "events", "event_keys"}


@pytest.fixture
def scratch(database_url: str) -> Iterator[tuple[str, Engine]]:
    with scratch_database(database_url) as url:
        engine = create_engine(url, poolclass=pool.NullPool)
        yield url, engine
        engine.dispose()


def _state(engine: Engine) -> dict[str, Any]:
    with engine.connect() as conn:
        return {
            "tables": set(inspect(conn).get_table_names()) - {"alembic_version"},
            "revision": migrate.current_revision(conn),
            "types": set(conn.execute(text("SELECT typname FROM pg_type WHERE typname = 'event_kind'")).scalars()),
            "functions": set(conn.execute(text("SELECT proname FROM pg_proc WHERE proname LIKE 'floyo_%'")).scalars()),
        }


def _revisions() -> list[str]:
    script = ScriptDirectory.from_config(migrate.alembic_config("postgresql+psycopg://unused"))
    return [r.revision for r in reversed(list(script.walk_revisions()))]


def test_up_down_up(scratch):
    url, engine = scratch
    migrate.upgrade(url)
    at_head = _state(engine)
    assert at_head["revision"] == migrate.head_revision()
    assert at_head["tables"] >= TABLES
    assert at_head["types"] == {"event_kind"}
    assert "floyo_ensure_event_partition" in at_head["functions"]

    migrate.downgrade(url, "base")
    assert _state(engine) == {"tables": set(), "revision": None, "types": set(), "functions": set()}

    migrate.upgrade(url)
    assert _state(engine) == at_head


def test_every_step_goes_down_and_up_again(scratch):
    """The stairway: each revision's downgrade undoes its upgrade exactly, with the revisions below in place."""
    url, engine = scratch
    revisions = _revisions()
    assert revisions[0] == "0001"
    assert revisions[-1] == migrate.head_revision()
    for below, revision in zip([None, *revisions], revisions, strict=False):
        before = _state(engine)
        migrate.upgrade(url, revision)
        after = _state(engine)
        assert after["revision"] == revision
        migrate.downgrade(url, below or "base")
        assert _state(engine) == before
        migrate.upgrade(url, revision)
        assert _state(engine) == after


def test_the_events_table_matches_the_code(scratch):
    url, engine = scratch
    migrate.upgrade(url)
    with engine.connect() as conn:
        columns = {c["name"]: c for c in inspect(conn).get_columns("events")}
        indexes = {i["name"]: i["column_names"] for i in inspect(conn).get_indexes("events")}
        partitioned = conn.execute(
            text("SELECT partstrat FROM pg_partitioned_table WHERE partrelid = 'events'::regclass")
        ).scalar()
    assert list(columns) == [c.name for c in events_table.columns]
    assert {name for name, c in columns.items() if not c["nullable"]} == {
        c.name for c in events_table.columns if not c.nullable
    }
    assert indexes["events_user_ts_idx"][:2] == ["user_id", "ts"]
    assert partitioned == "r"


def test_partitions_are_created_on_demand_and_after_a_rebuild(
    scratch, monkeypatch: pytest.MonkeyPatch, settings: Settings
):
    url, engine = scratch
    migrate.upgrade(url)
    device = make_device(engine)

    def partitions() -> set[str]:
        with engine.connect() as conn:
            return set(
                conn.execute(
                    text(
                        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'events'::regclass"
                    )
                ).scalars()
            )

    assert partitions() == set()
    batch = [
        make_event(ts=ts)
        for ts in ("2021-03-31T23:59:59+00:00", "2021-04-01T00:00:00+00:00", "2024-02-29T12:00:00+00:00")
    ]
    result = ingest_events(engine, settings, batch, user_id=device.user_id, device_id=device.device_id)
    assert result.accepted == 3
    assert partitions() == {"events_p202103", "events_p202104", "events_p202402"}
    with engine.connect() as conn:
        placed = dict(conn.execute(text("SELECT event_id::text, tableoid::regclass::text FROM events")).all())
    assert placed == {
        batch[0]["event_id"]: "events_p202103",
        batch[1]["event_id"]: "events_p202104",
        batch[2]["event_id"]: "events_p202402",
    }

    # rebuild the schema: this process still believes those partitions exist, and must recover by itself
    migrate.downgrade(url, "base")
    migrate.upgrade(url)
    device = make_device(engine)
    again = [make_event(ts="2021-03-15T00:00:00+00:00")]
    assert ingest_events(engine, settings, again, user_id=device.user_id, device_id=device.device_id).accepted == 1
    assert partitions() == {"events_p202103"}
