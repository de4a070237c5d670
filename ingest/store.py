"""Idempotent storage of validated events: one transaction per batch, as the request role, under RLS.

PostgreSQL refuses ``COPY FROM`` into a table where row level security applies, so the rows are COPYed
into a temporary table and moved into ``events`` by one ``INSERT ... SELECT``, which the policy checks
(``user_id`` must be the scoped user's).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import psycopg

from floyo.db.scoping import ScopedConnection
from floyo.event_schema import COPY_COLUMNS, COPY_TYPES
from floyo.events import ValidEvent
from ingest.validation import Rejection, ValidatedBatch

_COLUMNS = ", ".join(COPY_COLUMNS)
# One staging table per database session, emptied at every commit: creating and dropping one per batch
# would cost a third of the throughput in catalog churn. Only this session ever sees it.
_STAGE_SQL = (
    f"CREATE TEMP TABLE IF NOT EXISTS floyo_batch ON COMMIT DELETE ROWS AS SELECT {_COLUMNS} FROM events WITH NO DATA"
)
_COPY_SQL = f"COPY floyo_batch ({_COLUMNS}) FROM STDIN (FORMAT BINARY)"
_MOVE_SQL = f"INSERT INTO events ({_COLUMNS}) SELECT {_COLUMNS} FROM floyo_batch"
# Binary COPY (4x less client CPU than text, and no text parsing in the server) carries no type oids:
# each value goes in its column's binary format (floyo.event_schema.COPY_TYPES says which, by name).
_JSONB_V1 = b"\x01"
_MS = timedelta(milliseconds=1)
# Ids are claimed per user, from the staged rows, in one global order (concurrent batches overlapping in another
# order would deadlock). ``event_keys`` is under row level security, which COPY refuses: hence INSERT ... SELECT.
_CLAIM_ALL_SQL = (
    "INSERT INTO event_keys (user_id, event_id) SELECT user_id, event_id FROM floyo_batch ORDER BY event_id"
)
# A resend (rare): claim what is free, move those rows, and name the ids already stored, in one statement.
_CLAIM_SOME_SQL = f"""
WITH claimed AS (
    INSERT INTO event_keys (user_id, event_id) SELECT user_id, event_id FROM floyo_batch ORDER BY event_id
    ON CONFLICT DO NOTHING RETURNING event_id
), moved AS (
    INSERT INTO events ({_COLUMNS}) SELECT {_COLUMNS} FROM floyo_batch WHERE event_id IN (SELECT event_id FROM claimed)
)
SELECT event_id::text FROM floyo_batch WHERE event_id NOT IN (SELECT event_id FROM claimed)
"""
_known_partitions: dict[str, set[date]] = {}  # by database URL
_staged: weakref.WeakSet[psycopg.Connection[Any]] = weakref.WeakSet()  # sessions that have floyo_batch
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


def _database_key(conn: psycopg.Connection[Any]) -> str:
    info = conn.info
    return f"{info.host}:{info.port}/{info.dbname}"


def ensure_partitions(scoped: ScopedConnection, months: set[date]) -> None:
    """Create the monthly partitions these months need, in their own short transaction (a definer function)."""
    database = _database_key(scoped.conn)
    with _partitions_lock:
        missing = sorted(months - _known_partitions.get(database, set()))
    if not missing:
        return
    scoped.conn.execute("SELECT floyo_ensure_event_partition(m) FROM unnest(%s::date[]) AS m", (missing,))
    scoped.commit()
    with _partitions_lock:
        _known_partitions.setdefault(database, set()).update(missing)


def forget_partitions() -> None:
    """Drop the cache of known partitions (after retention dropped some, or a new database)."""
    with _partitions_lock:
        _known_partitions.clear()


# What each stored column holds, by name; a client column not listed is the event's field of the same name.
# ``_row`` is generated once from these and the registry's COPY order: one tuple display, as fast as a hand-written
# one (this is the hot path), and no position to keep in step by hand.
_VALUES = {
    "event_id": "bytes.fromhex(e.event_id.replace('-', ''))",
    "user_id": "user_id",
    "device_id": "device_id",
    "ts": "e.ts + skew",
    "client_ts": "e.ts",
    "skew_ms": "skew_ms",
    "received_at": "received_at",
    "meta": "None if e.meta is None else _JSONB_V1 + e.meta",
}
_TS_AT = COPY_COLUMNS.index("ts")


def _row_builder() -> Callable[[ValidEvent, int, int, timedelta, int, datetime], tuple[Any, ...]]:
    missing = [c for c in COPY_COLUMNS if c not in _VALUES and c not in ValidEvent._fields]
    if missing:
        raise RuntimeError(f"no stored value for the events columns {missing}: add them to ingest.store._VALUES")
    values = ", ".join(_VALUES.get(c, f"e.{c}") for c in COPY_COLUMNS)
    source = f"lambda e, user_id, device_id, skew, skew_ms, received_at: ({values},)"
    # the source is built from the constants above only, never from input
    return eval(source, {"_JSONB_V1": _JSONB_V1})  # type: ignore[no-any-return]  # noqa: S307


_row = _row_builder()


def _rows(batch: ValidatedBatch, user_id: int, device_id: int) -> list[tuple[Any, ...]]:
    """The COPY rows of the batch's events, in order."""
    skew, received_at = batch.skew, batch.received_at
    skew_ms = skew // _MS
    return [_row(e, user_id, device_id, skew, skew_ms, received_at) for _, e in batch.events]


def _store(scoped: ScopedConnection, batch: ValidatedBatch, rows: list[tuple[Any, ...]], *, resend: bool) -> list[int]:
    """Stage the rows, claim their ids and move the claimed ones into ``events``; the indices of duplicates.

    Without ``resend`` every id must be new (a UniqueViolation otherwise: the usual case costs no anti-join).
    """
    conn = scoped.conn
    if conn not in _staged:
        conn.execute(_STAGE_SQL)
    with conn.cursor().copy(_COPY_SQL) as copy:
        copy.set_types(COPY_TYPES)
        for row in rows:
            copy.write_row(row)
    if not resend:
        conn.execute(_CLAIM_ALL_SQL)
        conn.execute(_MOVE_SQL)
        return []
    taken = {row[0] for row in conn.execute(_CLAIM_SOME_SQL)}
    return [index for index, event in batch.events if event.event_id in taken] if taken else []


def store_batch(scoped: ScopedConnection, batch: ValidatedBatch, *, user_id: int, device_id: int) -> StoreResult:
    """Store a validated batch for one device on a scoped connection; returns only after the rows are committed.

    A ``user_id`` other than the one ``scoped`` is scoped to is refused by the policy (InsufficientPrivilege).
    """
    result = StoreResult(rejected=list(batch.rejected), duplicates=list(batch.repeated))
    if not batch.events:
        return result
    rows = _rows(batch, user_id, device_id)
    months = {date(year, month, 1) for year, month in {(row[_TS_AT].year, row[_TS_AT].month) for row in rows}}
    resend = partitions_renewed = False
    while True:
        ensure_partitions(scoped, months)
        try:
            duplicates = _store(scoped, batch, rows, resend=resend)
            scoped.commit()
            _staged.add(scoped.conn)  # only now: a rollback would have undone the staging table's creation
            break
        except psycopg.errors.UniqueViolation:
            # one of the ids is this user's already (a resend): again, claiming only the free ones
            scoped.rollback()
            if resend:
                raise
            resend = True
        except psycopg.errors.CheckViolation:
            # a cached partition was dropped (retention, a fresh database): forget and recreate once
            scoped.rollback()
            if partitions_renewed:
                raise
            partitions_renewed = True
            forget_partitions()
    result.duplicates = sorted(result.duplicates + duplicates)
    result.accepted = len(batch.events) - len(duplicates)
    return result
