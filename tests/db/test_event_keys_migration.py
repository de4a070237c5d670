"""Migration 0008: event_keys keyed by (user, event id), filled from the stored events, and back."""

from __future__ import annotations

import uuid

import psycopg

from floyo.db import migrate
from floyo.db.engine import psycopg_conninfo
from tests.utils.db import migrated_scratch_database

BEFORE, AFTER = "0006", "0008"


def test_0008_keys_existing_events_by_their_user_and_goes_back(database_url):
    shared, own, orphan = (str(uuid.uuid4()) for _ in range(3))
    with migrated_scratch_database(database_url) as url, psycopg.connect(**psycopg_conninfo(url)) as c:
        migrate.downgrade(url, BEFORE)
        c.execute("SELECT floyo_ensure_event_partition(date '2026-01-01')")
        for event_id, user_id in ((shared, 1), (own, 2)):
            c.execute(
                "INSERT INTO events (event_id, user_id, device_id, ts, client_ts, skew_ms, received_at, kind, root, "
                "path, ext) VALUES (%s, %s, 1, '2026-01-05', '2026-01-05', 0, now(), 'open', 'r', 'a.txt', 'txt')",
                (event_id, user_id),
            )
            c.execute("INSERT INTO event_keys (event_id) VALUES (%s)", (event_id,))
        c.execute("INSERT INTO event_keys (event_id) VALUES (%s)", (orphan,))
        c.commit()

        migrate.upgrade(url, AFTER)
        keys = c.execute("SELECT user_id, event_id::text FROM event_keys ORDER BY user_id").fetchall()
        assert keys == [(1, shared), (2, own)]  # the orphan protected nothing
        # now the same id may be claimed by another user
        c.execute("INSERT INTO event_keys (user_id, event_id) VALUES (2, %s)", (shared,))
        c.commit()

        migrate.downgrade(url, BEFORE)
        assert sorted(r[0] for r in c.execute("SELECT event_id::text FROM event_keys")) == sorted([shared, own])
        c.rollback()
        migrate.upgrade(url)
