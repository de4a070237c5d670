"""Retention: events older than ``FLOYO_RETENTION_DAYS`` leave both the lake and PostgreSQL, with their ids.

Off unless configured (``FLOYO_RETENTION_DAYS`` unset or 0). When on, a plan (the cutoff, how many rows and
lake dates) is made first so callers can say what will be deleted before it is. Deleting an event also deletes its
``event_keys`` row in the same transaction: a log sent again later is stored again, never swallowed as
"duplicates" of rows that no longer exist. This module knows the lake's events directory only as an argument:
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


def delete_old_rows(conn: psycopg.Connection[Any], cutoff: date) -> int:
    """In one transaction: forget the ids of events before ``cutoff``, drop the monthly partitions that lie wholly
    before it and delete the older rows from the rest."""
    cutoff_ts = _cutoff_ts(cutoff)
    # the ids first, while their events still exist: a re-sent event must be stored again, not called a duplicate
    conn.execute(
        "DELETE FROM event_keys k USING events e WHERE e.ts < %s AND k.user_id = e.user_id AND k.event_id = e.event_id",
        (cutoff_ts,),
    )
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


def _next_month(year: int, month: int) -> datetime:
    return datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)


def apply_retention(conn: psycopg.Connection[Any], events_root: Path, plan: RetentionPlan) -> tuple[int, int]:
    """Delete what ``plan`` describes from the lake and PostgreSQL; (rows deleted, lake dates deleted)."""
    from ingest.store import forget_partitions

    dates = drop_lake_dates(events_root, plan.cutoff)
    rows = delete_old_rows(conn, plan.cutoff)
    forget_partitions()  # this process's ingest cache must not trust dropped partitions
    return rows, dates
