"""RLS keeps users apart in the database itself, not only in the application's WHERE clauses."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from floyo.db.engine import psycopg_conninfo
from floyo.db.scoping import scope_to_user
from tests.utils.factories import make_batch, make_device, make_event


def _count_all_events(database_url: str, user_id: int | None) -> int:
    with psycopg.connect(**psycopg_conninfo(database_url)) as conn:
        if user_id is not None:
            scope_to_user(conn, user_id)
        else:
            conn.execute("SET LOCAL ROLE floyo_user")
        # deliberately no WHERE clause: only the policy can restrict this
        count: Any = conn.execute("SELECT count(*) FROM events").fetchone()
        return int(count[0])


def test_scoped_reads_see_only_own_rows(client, engine, database_url):
    alice, bob = make_device(engine), make_device(engine)
    client.post("/api/v1/telemetry", json=make_batch([make_event() for _ in range(3)]), headers=alice.headers)
    client.post("/api/v1/telemetry", json=make_batch([make_event() for _ in range(5)]), headers=bob.headers)
    assert _count_all_events(database_url, alice.user_id) == 3
    assert _count_all_events(database_url, bob.user_id) == 5


def test_unscoped_role_sees_nothing(client, engine, database_url):
    carol = make_device(engine)
    client.post("/api/v1/telemetry", json=make_batch([make_event()]), headers=carol.headers)
    assert _count_all_events(database_url, None) == 0


def test_user_role_cannot_write(engine, database_url):
    dave = make_device(engine)
    with psycopg.connect(**psycopg_conninfo(database_url)) as conn:
        scope_to_user(conn, dave.user_id)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DELETE FROM events")
