"""Incremental, restartable, exactly-once export of events from PostgreSQL into the Parquet lake.

Protocol (docs/lake.md explains why it is sound):

1. One exporter at a time (a session advisory lock).
2. A lake without any committed file gets a full export (the watermark describes another lake); a lake written by
   another database is refused. Recover: staged files whose seq range is at or below the committed watermark are
   moved into place, the others and any temporary file are deleted; lake files above the watermark (after
   ``--full``) or covered by a compacted file are deleted. File names carry their seq range, so recovery needs
   nothing but the watermark.
3. The safe horizon: ``LOCK TABLE events IN SHARE MODE`` waits for every in-flight writer of events (each one holds
   ROW EXCLUSIVE from before it drew its first seq until it ends), then the sequence's last value is read and the lock
   released at once. Every seq at or below it belongs to a finished transaction, so none can appear later.
4. Seq ranges ``(lo, hi]`` up to the horizon are read (two ahead, on two connections kept for the whole run) by
   the ADBC PostgreSQL driver, which decodes binary COPY into Arrow in C++ (no Python object per row), written to
   ``_staging/`` as one zstd Parquet file per event date and fsynced, then the watermark is committed, then the
   staged files are renamed into ``events/date=YYYY-MM-DD/`` (reading: ``ingest/lake_read.py``; files:
   ``ingest/lake_files.py``).
5. Small files of a date are compacted into one; retention drops old dates from the lake and old rows from PostgreSQL.
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pyarrow as pa
from sqlalchemy import Engine

from floyo.db.engine import psycopg_conninfo
from floyo.errors import Conflict
from floyo.settings import Settings
from ingest.lake_files import (
    LAKE_SCHEMA,
    STAGING,
    compact,
    events_dir,
    lake_files,
    parse_part,
    promote,
    recover,
    write_staged,
)
from ingest.lake_read import Readers
from ingest.lake_retention import RetentionPlan, apply_retention, plan_retention

__all__ = ["LAKE_SCHEMA", "ExportResult", "events_dir", "export_lake", "parse_part", "read_watermark", "recover"]

EXPORT_LOCK_KEY = 0x466C6F796F4C616B  # "FloyoLak": one exporter per database
DEFAULT_CHUNK_SEQS = 250_000
READERS = 2  # COPY streams in flight: PostgreSQL formats one while pyarrow parses the other

Progress = Callable[[int, int], None]  # (rows exported so far, seq span done so far)


@dataclass
class ExportResult:
    """What one export run did."""

    exported: int = 0
    watermark_before: int = 0
    watermark: int = 0
    horizon: int = 0
    files_written: int = 0
    recovered_files: int = 0
    compacted_partitions: int = 0
    retention: dict[str, Any] | None = None  # the plan retention carried out (None: retention off or skipped)
    retention_rows_deleted: int = 0
    retention_dates_deleted: int = 0
    seconds: float = 0.0
    chunks: list[tuple[int, int, int]] = field(default_factory=list)  # (lo, hi, rows)
    # wall seconds of the exporting thread per phase (PHASES): where an export's time goes
    phases: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("chunks")
        data.pop("phases")
        return data

    def describe(self) -> str:
        rate = self.exported / self.seconds if self.seconds else 0.0
        return (
            f"exported {self.exported} events (seq {self.watermark_before} -> {self.watermark}) in {self.seconds:.2f} s "
            f"({rate:,.0f}/s), {self.files_written} files, {self.compacted_partitions} dates compacted, "
            + (
                "retention off"
                if self.retention is None
                else f"retention deleted {self.retention_rows_deleted} rows and {self.retention_dates_deleted} "
                f"lake dates before {self.retention['cutoff']}"
            )
        )


# --- the watermark in PostgreSQL -------------------------------------------------------------------------------


def read_watermark(conn: psycopg.Connection[Any]) -> int:
    """The last seq committed to the lake."""
    try:
        row = conn.execute("SELECT watermark FROM lake_export_state WHERE id = 1").fetchone()
    except psycopg.errors.UndefinedTable as exc:
        conn.rollback()
        raise Conflict("schema_not_migrated", "the database has no export state: run `floyo db migrate`") from exc
    conn.commit()
    return int(row[0]) if row else 0


def _commit_watermark(conn: psycopg.Connection[Any], hi: int, rows: int, *, reset: bool = False) -> None:
    sql = "UPDATE lake_export_state SET watermark = %s, exported = {}, updated_at = now() WHERE id = 1"
    conn.execute(sql.format("%s" if reset else "exported + %s"), (hi, rows))
    conn.commit()


def safe_horizon(conn: psycopg.Connection[Any], *, lock_timeout_s: float = 30.0) -> int:
    """The highest seq below which no transaction is still in flight (see the module docstring, step 3)."""
    conn.execute(f"SET LOCAL lock_timeout = '{int(lock_timeout_s * 1000)}ms'")
    try:
        conn.execute("LOCK TABLE events IN SHARE MODE")
    except psycopg.errors.LockNotAvailable as exc:
        conn.rollback()
        raise Conflict("writers_busy", f"a write to events stayed in flight for over {lock_timeout_s} s") from exc
    last, called = conn.execute("SELECT last_value, is_called FROM events_seq").fetchone()  # type: ignore[misc]
    conn.commit()
    return int(last) if called else 0


# --- which database a lake mirrors ------------------------------------------------------------------------------

IDENTITY_FILE = "_export_identity"


def database_identity(conn: psycopg.Connection[Any]) -> str:
    """The cluster's system identifier and the database's oid: changes when the database is recreated or moved."""
    oid = conn.execute("SELECT oid FROM pg_database WHERE datname = current_database()").fetchone()
    conn.commit()
    try:  # restricted to superusers and pg_monitor by default
        system = conn.execute("SELECT system_identifier FROM pg_control_system()").fetchone()
        conn.commit()
    except psycopg.errors.InsufficientPrivilege:
        conn.rollback()
        system = ("?",)
    return f"{system[0] if system else '?'}:{oid[0] if oid else '?'}"


def _lake_needs_full_export(conn: psycopg.Connection[Any], lake: Path) -> bool:
    """True when the watermark cannot describe this lake (it holds no file); a lake that another database exported
    to is refused (``--full`` takes it over)."""
    if read_watermark(conn) == 0:
        return False
    marker = lake / IDENTITY_FILE
    if marker.exists() and marker.read_text().strip() != database_identity(conn):
        raise Conflict(
            "lake_of_another_database",
            f"{lake} holds the export of another database: point FLOYO_LAKE_DIR elsewhere, or run with --full",
        )
    # no committed file at all (a new, moved or deleted lake): exporting everything again is always correct
    return not any(lake_files(events_dir(lake))) and not any(lake_files(lake / STAGING))


def _claim_lake(conn: psycopg.Connection[Any], lake: Path) -> None:
    lake.mkdir(parents=True, exist_ok=True)
    marker, tmp = lake / IDENTITY_FILE, lake / f".{IDENTITY_FILE}.tmp"
    tmp.write_text(database_identity(conn) + "\n")
    os.replace(tmp, marker)


# --- the export ------------------------------------------------------------------------------------------------


def _conninfo(engine: Engine) -> dict[str, Any]:
    return psycopg_conninfo(engine.url.render_as_string(hide_password=False))


@contextmanager
def _export_lock(conninfo: dict[str, Any]) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(**conninfo) as conn:
        got = conn.execute("SELECT pg_try_advisory_lock(%s)", (EXPORT_LOCK_KEY,)).fetchone()
        conn.commit()
        if not got or not got[0]:
            raise Conflict("export_running", "another export is running against this database")
        try:
            yield conn
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (EXPORT_LOCK_KEY,))
            conn.commit()


def _chunks(lo: int, horizon: int, size: int) -> Iterator[tuple[int, int]]:
    """Seq ranges ``(lo, hi]`` up to the horizon. No probing for gaps: an empty range costs ~1 ms (BRIN on seq),
    while ``min(seq)`` over the rest of the table is a scan."""
    while lo < horizon:
        hi = min(horizon, lo + size)
        yield lo, hi
        lo = hi


def export_lake(
    engine: Engine,
    settings: Settings,
    *,
    full: bool = False,
    chunk_seqs: int = DEFAULT_CHUNK_SEQS,
    retention: bool = True,
    lock_timeout_s: float = 30.0,
    progress: Progress | None = None,
    on_chunk: Callable[[int, int, int], None] | None = None,
    on_retention: Callable[[RetentionPlan], None] | None = None,
) -> ExportResult:
    """Move every committed event above the watermark into the lake, exactly once; then compact and, when
    ``FLOYO_RETENTION_DAYS`` is set and ``retention`` is true, apply retention after ``on_retention(plan)``."""
    started = time.perf_counter()
    lake = settings.lake_path
    conninfo = _conninfo(engine)
    result = ExportResult()
    with _export_lock(conninfo) as conn:
        with _phase(result, "start"):
            if full or _lake_needs_full_export(conn, lake):
                _commit_watermark(conn, 0, 0, reset=True)
            result.watermark_before = watermark = read_watermark(conn)
            _claim_lake(conn, lake)
            result.recovered_files = recover(lake, watermark)
            result.horizon = safe_horizon(conn, lock_timeout_s=lock_timeout_s)
        for lo, hi, table in _prefetched(conninfo, _chunks(watermark, result.horizon, chunk_seqs), result):
            _commit_chunk(conn, lake, lo, hi, table, result)
            if on_chunk:
                on_chunk(lo, hi, table.num_rows)
            if progress:
                progress(result.exported, hi - result.watermark_before)
        result.watermark = read_watermark(conn)
        with _phase(result, "compact"):
            result.compacted_partitions = compact(lake)
        if retention and settings.retention_days:
            with _phase(result, "retention"):
                plan, (result.retention_rows_deleted, result.retention_dates_deleted) = _retain(
                    conn, settings, on_retention
                )
            result.retention = plan.as_dict()
    result.seconds = time.perf_counter() - started
    return result


PHASES = ("start", "read", "write", "commit", "compact", "retention")


@contextmanager
def _phase(result: ExportResult, name: str) -> Iterator[None]:
    """Add the wall time of the block to ``result.phases[name]`` (``read`` is time spent waiting for PostgreSQL
    beyond what the read-ahead hid)."""
    t0 = time.perf_counter()
    try:
        yield
    finally:
        result.phases[name] = result.phases.get(name, 0.0) + time.perf_counter() - t0


def _prefetched(
    conninfo: dict[str, Any], ranges: Iterator[tuple[int, int]], result: ExportResult, readers: int = READERS
) -> Iterator[tuple[int, int, pa.Table]]:
    """Each range's rows in order, reading the next ranges from PostgreSQL while the caller writes the current one."""
    # the pool shuts down (its threads finish) before the connections close: exits run in reverse order
    with Readers(conninfo) as reader, ThreadPoolExecutor(max_workers=readers, thread_name_prefix="lake-read") as pool:
        pending: deque[tuple[int, int, Future[pa.Table]]] = deque()
        for lo, hi in ranges:
            pending.append((lo, hi, pool.submit(reader.read, lo, hi)))
            if len(pending) > readers:
                yield _next(pending, result)
        while pending:
            yield _next(pending, result)


def _next(pending: deque[tuple[int, int, Future[pa.Table]]], result: ExportResult) -> tuple[int, int, pa.Table]:
    lo, hi, future = pending.popleft()
    with _phase(result, "read"):
        return lo, hi, future.result()


def _commit_chunk(
    conn: psycopg.Connection[Any], lake: Path, lo: int, hi: int, table: pa.Table, result: ExportResult
) -> None:
    with _phase(result, "write"):
        staged = write_staged(table, lake / STAGING, lo, hi)
    with _phase(result, "commit"):
        _commit_watermark(conn, hi, table.num_rows)  # the commit point: from here on the staged files are the lake's
        promote(lake, staged)
    result.files_written += len(staged)
    result.exported += table.num_rows
    result.chunks.append((lo, hi, table.num_rows))


def run_retention(
    engine: Engine,
    settings: Settings,
    *,
    dry_run: bool = False,
    on_retention: Callable[[RetentionPlan], None] | None = None,
) -> RetentionPlan | None:
    """Apply ``FLOYO_RETENTION_DAYS`` alone, under the export lock, after ``on_retention(plan)`` (``dry_run``: only
    count); None when retention is off."""
    if not settings.retention_days:
        return None
    with _export_lock(_conninfo(engine)) as conn:
        plan, _ = _retain(conn, settings, on_retention, dry_run=dry_run)
    return plan


def _retain(
    conn: psycopg.Connection[Any],
    settings: Settings,
    on_retention: Callable[[RetentionPlan], None] | None,
    *,
    dry_run: bool = False,
) -> tuple[RetentionPlan, tuple[int, int]]:
    """Plan retention, say it through ``on_retention`` before anything is deleted, then (unless ``dry_run``)
    apply it; the plan and (rows deleted, lake dates deleted)."""
    plan = plan_retention(conn, events_dir(settings.lake_path), settings.retention_days)
    if on_retention:
        on_retention(plan)
    deleted = (0, 0) if dry_run else apply_retention(conn, events_dir(settings.lake_path), plan)
    return plan, deleted
