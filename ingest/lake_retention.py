"""Retention: events older than ``FLOYO_RETENTION_DAYS`` leave both the lake and PostgreSQL, with their ids.

Off unless configured (``FLOYO_RETENTION_DAYS`` unset or 0). When on, a plan (the cutoff, how many rows and
lake dates) is made first so callers can say what will be deleted before it is. Deleting an event also deletes its
``event_keys`` row in the same transaction: a log sent again later is stored again, never swallowed as
"duplicates" of rows that no longer exist. Nothing here stalls ingest: old months are detached concurrently and the
rest goes in small batches, each in its own short transaction (``delete_old_rows``). This module knows the lake's events directory only as an argument:
``ingest.lake_export`` calls it under the export lock, never the other way round.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

_PARTITION = re.compile(r"^events_p(\d{4})(\d{2})$")


@dataclass(frozen=True)
class RetentionPlan:
    """What retention of ``days`` days deletes: every event before ``cutoff`` (a UTC date)."""

    days: int
    cutoff: date
    rows: int
    lake_dates: int
    first_date: date | None = None  # the oldest and newest lake dates it deletes
    last_date: date | None = None

    def describe(self) -> str:
        """One line: what goes, and why."""
        dates = f" ({self.first_date} to {self.last_date})" if self.first_date else ""
        return (
            f"retention (FLOYO_RETENTION_DAYS={self.days}) deletes events before {self.cutoff}: "
            f"{self.rows} rows in PostgreSQL and {self.lake_dates} lake dates{dates}"
        )

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {k: (v.isoformat() if isinstance(v, date) else v) for k, v in asdict(self).items()}


def retention_cutoff(days: int, *, now: datetime | None = None) -> date:
    """The first date kept by a retention of ``days`` days."""
    return ((now or datetime.now(UTC)) - timedelta(days=days)).date()


def _cutoff_ts(cutoff: date) -> datetime:
    return datetime(cutoff.year, cutoff.month, cutoff.day, tzinfo=UTC)


def _old_lake_dates(events_root: Path, cutoff: date) -> list[tuple[date, Path]]:
    found = []
    for day in sorted(events_root.glob("date=*")) if events_root.exists() else ():
        try:
            day_date = date.fromisoformat(day.name.removeprefix("date="))
        except ValueError:
            continue
        if day_date < cutoff:
            found.append((day_date, day))
    return found


def plan_retention(
    conn: psycopg.Connection[Any], events_root: Path, days: int, *, now: datetime | None = None
) -> RetentionPlan:
    """Count what a retention of ``days`` days would delete from PostgreSQL and from ``events_root``; deletes nothing."""
    cutoff = retention_cutoff(days, now=now)
    row = conn.execute("SELECT count(*) FROM events WHERE ts < %s", (_cutoff_ts(cutoff),)).fetchone()
    conn.commit()
    old = _old_lake_dates(events_root, cutoff)
    return RetentionPlan(
        days, cutoff, int(row[0]) if row else 0, len(old), old[0][0] if old else None, old[-1][0] if old else None
    )


def drop_lake_dates(events_root: Path, cutoff: date) -> int:
    """Delete the lake's date partitions before ``cutoff``; returns how many."""
    old = _old_lake_dates(events_root, cutoff)
    for _, day in old:
        shutil.rmtree(day)
    return len(old)


BATCH_ROWS = 5_000  # rows (or seq numbers) per short retention transaction


def delete_old_rows(conn: psycopg.Connection[Any], cutoff: date, *, batch: int | None = None) -> int:
    """Delete the events before ``cutoff`` and their ids without stalling ingest; returns how many events.

    Monthly partitions wholly before the cut-off are detached CONCURRENTLY (ingest keeps writing to the other
    months meanwhile), renamed out of the way, their ids deleted in short transactions, then dropped. The older
    rows of the remaining months go in short transactions of ``batch`` (``BATCH_ROWS``) seq numbers, each deleting the events and
    their ids together. No step holds a lock that blocks ingest for longer than one small batch.
    """
    cutoff_ts = _cutoff_ts(cutoff)
    batch = batch or BATCH_ROWS
    conn.commit()
    deleted = 0
    for name in _partitions_before(conn, cutoff_ts):
        deleted += _retire_partition(conn, name, batch)
    deleted += _delete_in_batches(conn, cutoff_ts, batch)
    return deleted


def _partitions_before(conn: psycopg.Connection[Any], cutoff_ts: datetime) -> list[str]:
    rows = conn.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = 'events'::regclass ORDER BY 1"
    ).fetchall()
    conn.commit()
    names = []
    for (name,) in rows:
        m = _PARTITION.match(name)
        if m and _next_month(int(m.group(1)), int(m.group(2))) <= cutoff_ts:
            names.append(name)
    return names


def _retire_partition(conn: psycopg.Connection[Any], name: str, batch: int) -> int:
    """Detach ``name`` concurrently, delete its events' ids in batches, drop it; how many events it held."""
    table = sql.Identifier(name)
    retired = sql.Identifier(name.replace("events_p", "events_retired_p", 1))
    pending = conn.execute(
        "SELECT i.inhdetachpending FROM pg_inherits i WHERE i.inhrelid = %s::regclass", (name,)
    ).fetchone()
    conn.commit()
    conn.autocommit = True  # DETACH ... CONCURRENTLY runs in two transactions of its own
    try:
        # an earlier run interrupted mid-detach left it pending: that can only be finished
        how = sql.SQL("FINALIZE") if pending and pending[0] else sql.SQL("CONCURRENTLY")
        conn.execute(sql.SQL("ALTER TABLE events DETACH PARTITION {} {}").format(table, how))
        # out of the way at once: a resent old event recreates its month under the usual name
        conn.execute(sql.SQL("ALTER TABLE {} RENAME TO {}").format(table, retired))
    finally:
        conn.autocommit = False
    row = conn.execute(sql.SQL("SELECT count(*), min(seq), max(seq) FROM {}").format(retired)).fetchone()
    conn.commit()
    count, low, high = (int(row[0]), row[1], row[2]) if row else (0, None, None)
    if low is not None and high is not None:
        keys = sql.SQL(
            "DELETE FROM event_keys k USING {} e WHERE e.seq >= %s AND e.seq < %s "
            "AND k.user_id = e.user_id AND k.event_id = e.event_id"
        ).format(retired)
        for start in range(int(low), int(high) + 1, batch):
            conn.execute(keys, (start, start + batch))
            conn.commit()
    conn.execute(sql.SQL("DROP TABLE {}").format(retired))
    conn.commit()
    return count


_DELETE_BATCH = """
WITH doomed AS (
    DELETE FROM events WHERE ts < %(cutoff)s AND seq >= %(low)s AND seq < %(high)s RETURNING user_id, event_id
), keys AS (
    DELETE FROM event_keys k USING doomed d WHERE k.user_id = d.user_id AND k.event_id = d.event_id
)
SELECT count(*) FROM doomed
"""


def _delete_in_batches(conn: psycopg.Connection[Any], cutoff_ts: datetime, batch: int) -> int:
    """Delete the rows before ``cutoff_ts`` left in the attached partitions, ``batch`` seq numbers at a time."""
    row = conn.execute("SELECT min(seq), max(seq) FROM events WHERE ts < %s", (cutoff_ts,)).fetchone()
    conn.commit()
    if not row or row[0] is None:
        return 0
    deleted = 0
    for start in range(int(row[0]), int(row[1]) + 1, batch):
        done = conn.execute(_DELETE_BATCH, {"cutoff": cutoff_ts, "low": start, "high": start + batch}).fetchone()
        conn.commit()
        deleted += int(done[0]) if done else 0
    return deleted


def _next_month(year: int, month: int) -> datetime:
    return datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)


def apply_retention(conn: psycopg.Connection[Any], events_root: Path, plan: RetentionPlan) -> tuple[int, int]:
    """Delete what ``plan`` describes from the lake and PostgreSQL; (rows deleted, lake dates deleted)."""
    from ingest.store import forget_partitions

    dates = drop_lake_dates(events_root, plan.cutoff)
    rows = delete_old_rows(conn, plan.cutoff)
    forget_partitions()  # this process's ingest cache must not trust dropped partitions
    return rows, dates
