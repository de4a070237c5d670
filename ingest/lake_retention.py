"""Retention: events older than ``FLOYO_RETENTION_DAYS`` leave both the lake and PostgreSQL."""

from __future__ import annotations

import re
import shutil
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from ingest.lake_export import events_dir, retention_cutoff

_PARTITION = re.compile(r"^events_p(\d{4})(\d{2})$")


def _next_month(year: int, month: int) -> datetime:
    return datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)


def drop_lake_dates(lake: Path, cutoff: date) -> int:
    """Delete the lake's date partitions before ``cutoff``; returns how many."""
    dropped = 0
    root = events_dir(lake)
    for day in sorted(root.glob("date=*")) if root.exists() else ():
        try:
            day_date = date.fromisoformat(day.name.removeprefix("date="))
        except ValueError:
            continue
        if day_date < cutoff:
            shutil.rmtree(day)
            dropped += 1
    return dropped


def delete_old_rows(conn: psycopg.Connection[Any], cutoff: date) -> int:
    """Drop monthly partitions that lie wholly before ``cutoff`` and delete older rows from the rest."""
    cutoff_ts = datetime(cutoff.year, cutoff.month, cutoff.day, tzinfo=UTC)
    names = conn.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'events'::regclass"
    ).fetchall()
    deleted = 0
    for (name,) in names:
        m = _PARTITION.match(name)
        if m and _next_month(int(m.group(1)), int(m.group(2))) <= cutoff_ts:
            count = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(name))).fetchone()
            conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(name)))
            deleted += int(count[0]) if count else 0
    deleted += conn.execute("DELETE FROM events WHERE ts < %s", (cutoff_ts,)).rowcount
    conn.commit()
    return deleted


def apply_retention(conn: psycopg.Connection[Any], lake: Path, days: int) -> tuple[int, int]:
    """Delete events older than ``days`` days from PostgreSQL and the lake; (rows deleted, lake dates deleted)."""
    from ingest.store import forget_partitions

    cutoff = retention_cutoff(days)
    dates = drop_lake_dates(lake, cutoff)
    rows = delete_old_rows(conn, cutoff)
    forget_partitions()  # this process's ingest cache must not trust dropped partitions
    return rows, dates
