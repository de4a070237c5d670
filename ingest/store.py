"""Idempotent storage of validated events: one transaction per batch, COPY into the monthly partitions."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import orjson
import psycopg
from sqlalchemy import Engine

from floyo.db.tables import EVENT_COPY_COLUMNS
from floyo.events import Event
from ingest.validation import Rejection, ValidatedBatch

_COPY_SQL = f"COPY events ({', '.join(EVENT_COPY_COLUMNS)}) FROM STDIN"
_CLAIM_SQL = "INSERT INTO event_keys (event_id) SELECT unnest(%s::uuid[]) ON CONFLICT DO NOTHING RETURNING event_id"
_known_partitions: dict[str, set[date]] = {}  # by database URL
_partitions_lock = threading.Lock()


@dataclass(slots=True)
class StoreResult:
    """What happened to each event of a request, by index."""

    accepted: int = 0
    duplicates: list[int] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "duplicate": len(self.duplicates),
            "rejected": len(self.rejected),
            "duplicates": self.duplicates,
            "rejections": [r.as_dict() for r in self.rejected],
        }


def _month(ts: datetime) -> date:
    return date(ts.year, ts.month, 1)


def ensure_partitions(conn: psycopg.Connection[Any], months: set[date], *, database: str) -> None:
    """Create the monthly partitions these months need, in their own short transaction."""
    with _partitions_lock:
        missing = sorted(months - _known_partitions.get(database, set()))
    if not missing:
        return
    conn.execute("SELECT floyo_ensure_event_partition(m) FROM unnest(%s::date[]) AS m", (missing,))
    conn.commit()
    with _partitions_lock:
        _known_partitions.setdefault(database, set()).update(missing)


def forget_partitions() -> None:
    """Drop the cache of known partitions (after retention dropped some, or a new database)."""
    with _partitions_lock:
        _known_partitions.clear()


def _row(event: Event, user_id: int, device_id: int, skew: timedelta, received_at: datetime) -> tuple[Any, ...]:
    return (
        event.event_id, user_id, device_id, event.ts + skew, event.ts, skew // timedelta(milliseconds=1),
        received_at, event.kind, event.root, event.path, event.ext, event.dest_path, event.tool,
        event.exit_code, event.duration_ms, None if event.meta is None else orjson.dumps(event.meta).decode(),
    )  # fmt: skip


def _store(conn: psycopg.Connection[Any], batch: ValidatedBatch, user_id: int, device_id: int) -> list[int]:
    ids = [event.event_id for _, event in batch.events]
    claimed = {row[0] for row in conn.execute(_CLAIM_SQL, (ids,))}
    duplicates = []
    with conn.cursor().copy(_COPY_SQL) as copy:
        for index, event in batch.events:
            if event.event_id in claimed:
                copy.write_row(_row(event, user_id, device_id, batch.skew, batch.received_at))
            else:
                duplicates.append(index)
    return duplicates


def store_batch(engine: Engine, batch: ValidatedBatch, *, user_id: int, device_id: int) -> StoreResult:
    """Store a validated batch for one device; returns only after the rows are committed."""
    result = StoreResult(rejected=list(batch.rejected), duplicates=list(batch.repeated))
    if not batch.events:
        return result
    months = {_month(event.ts + batch.skew) for _, event in batch.events}
    raw = engine.raw_connection()
    try:
        conn: psycopg.Connection[Any] = raw.driver_connection  # type: ignore[assignment]
        for attempt in (1, 2):
            ensure_partitions(conn, months, database=str(engine.url))
            try:
                duplicates = _store(conn, batch, user_id, device_id)
                conn.commit()
                break
            except psycopg.errors.CheckViolation:
                # a cached partition was dropped (retention, a fresh database): forget and recreate once
                conn.rollback()
                if attempt == 2:
                    raise
                forget_partitions()
    finally:
        raw.close()
    result.duplicates = sorted(result.duplicates + duplicates)
    result.accepted = len(batch.events) - len(duplicates)
    return result
