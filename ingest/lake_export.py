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
4. Seq ranges ``(lo, hi]`` up to the horizon are read (two ahead, on two connections) by the ADBC PostgreSQL
   driver, which decodes binary COPY into Arrow in C++ (no Python object per row), written to
   ``_staging/`` as zstd Parquet partitioned by event date, then the watermark is committed, then the staged files
   are renamed into ``events/date=YYYY-MM-DD/``.
5. Small files of a date are compacted into one; retention drops old dates from the lake and old rows from PostgreSQL.
"""

from __future__ import annotations

import os
import re
import shutil
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
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq
from psycopg.conninfo import make_conninfo
from sqlalchemy import Engine

from floyo import event_schema
from floyo.db.engine import psycopg_conninfo
from floyo.errors import Conflict
from floyo.settings import Settings
from ingest.lake_retention import RetentionPlan, apply_retention, plan_retention

EXPORT_LOCK_KEY = 0x466C6F796F4C616B  # "FloyoLak": one exporter per database
DEFAULT_CHUNK_SEQS = 250_000
ROW_GROUP_ROWS = 128 * 1024
# dictionary-encode the low-cardinality columns only: trying it on event_id (random) costs 30 % of write time
DICTIONARY_COLUMNS = ["kind", "root", "path", "ext", "dest_path", "tool"]
COMPACT_MAX_ROWS = 5_000_000
READERS = 2  # COPY streams in flight: PostgreSQL formats one while pyarrow parses the other
COMPACT_MIN_FILES = 8  # a date with this many files is merged whatever their size
SMALL_FILE_ROWS = 50_000  # ... and with fewer, when they hold this many rows or fewer on average
_PART = re.compile(r"^part-(\d+)-(\d+)(-c)?(?:-\d+)?\.parquet$")
_TS = pa.timestamp("us")
# Lake schema: the exported columns of the registry (floyo/event_schema.py); `date` lives in the directory name
# (hive partitioning). uuid, enum and jsonb are read as text (see event_schema.AS_TEXT_IN_LAKE).
LAKE_SCHEMA = event_schema.lake_schema()
_SELECT = event_schema.lake_select()

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

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("chunks")
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


def events_dir(lake: Path) -> Path:
    """Where the events live in the lake."""
    return lake / "events"


def parse_part(name: str) -> tuple[int, int, bool] | None:
    """(lo, hi, compacted) of a lake file name, None for foreign files."""
    m = _PART.match(name)
    return (int(m.group(1)), int(m.group(2)), bool(m.group(3))) if m else None


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
    return not any(_lake_files(events_dir(lake))) and not any(_lake_files(lake / "_staging"))


def _claim_lake(conn: psycopg.Connection[Any], lake: Path) -> None:
    lake.mkdir(parents=True, exist_ok=True)
    marker, tmp = lake / IDENTITY_FILE, lake / f".{IDENTITY_FILE}.tmp"
    tmp.write_text(database_identity(conn) + "\n")
    os.replace(tmp, marker)


# --- files -----------------------------------------------------------------------------------------------------


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _lake_files(root: Path) -> Iterator[Path]:
    if root.exists():
        yield from (p for p in root.glob("date=*/*") if p.is_file())


def recover(lake: Path, watermark: int) -> int:
    """Bring the lake to exactly the events at or below ``watermark``; returns how many files were touched."""
    touched = 0
    staging, events = lake / "_staging", events_dir(lake)
    for path in list(_lake_files(staging)):
        part = parse_part(path.name)
        if part and part[1] <= watermark:
            dest = events / path.parent.name / path.name
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, dest)
        else:
            path.unlink()
        touched += 1
    shutil.rmtree(staging, ignore_errors=True)
    for day in (d for d in events.glob("date=*") if d.is_dir()) if events.exists() else ():
        touched += _recover_day(day, watermark)
    return touched


def _recover_day(day: Path, watermark: int) -> int:
    touched = 0
    parts = {p: parse_part(p.name) for p in day.iterdir() if p.is_file()}
    compacted = [rng for rng in parts.values() if rng and rng[2] and rng[1] <= watermark]
    for path, rng in parts.items():
        covered = rng is not None and any(c[0] <= rng[0] and rng[1] <= c[1] and c != rng for c in compacted)
        if rng is None or rng[1] > watermark or covered:
            path.unlink()
            touched += 1
    if not any(day.iterdir()):
        day.rmdir()
    return touched


# --- PostgreSQL -> Arrow ---------------------------------------------------------------------------------------


def stream_range(conninfo: dict[str, Any], lo: int, hi: int) -> pa.Table:
    """Events with ``lo < seq <= hi`` as an Arrow table, decoded from binary COPY in C++ by the ADBC driver."""
    import adbc_driver_postgresql.dbapi as adbc  # type: ignore[import-untyped]

    query = f"SELECT {_SELECT} FROM events WHERE seq > {int(lo)} AND seq <= {int(hi)}"
    with adbc.connect(make_conninfo(**conninfo)) as conn, conn.cursor() as cur:
        cur.execute(query)
        table = cur.fetch_arrow_table()
    return table.cast(LAKE_SCHEMA)  # plain Arrow types, without the driver's field metadata


def write_staged(table: pa.Table, staging: Path, lo: int, hi: int) -> int:
    """Write one seq range into ``staging`` partitioned by event date; returns the number of files."""
    dates = pc.cast(pc.cast(table["ts"], _TS), pa.date32())
    table = table.append_column("date", dates)  # rows are sorted by compaction, not here
    written: list[str] = []
    ds.write_dataset(
        table,
        staging,
        format="parquet",
        partitioning=ds.partitioning(pa.schema([("date", pa.date32())]), flavor="hive"),
        basename_template=f"part-{lo + 1:012d}-{hi:012d}-{{i}}.parquet",
        existing_data_behavior="overwrite_or_ignore",
        file_options=ds.ParquetFileFormat().make_write_options(compression="zstd", use_dictionary=DICTIONARY_COLUMNS),
        max_rows_per_group=ROW_GROUP_ROWS,
        min_rows_per_group=min(ROW_GROUP_ROWS, max(1, table.num_rows)),
        max_partitions=100_000,
        file_visitor=lambda f: written.append(f.path),
    )
    for day in {Path(p).parent for p in written}:
        _fsync_dir(day)
    return len(written)


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
        if full or _lake_needs_full_export(conn, lake):
            _commit_watermark(conn, 0, 0, reset=True)
        result.watermark_before = watermark = read_watermark(conn)
        _claim_lake(conn, lake)
        result.recovered_files = recover(lake, watermark)
        result.horizon = safe_horizon(conn, lock_timeout_s=lock_timeout_s)
        for lo, hi, table in _prefetched(conninfo, _chunks(watermark, result.horizon, chunk_seqs)):
            _commit_chunk(conn, lake, lo, hi, table, result)
            if on_chunk:
                on_chunk(lo, hi, table.num_rows)
            if progress:
                progress(result.exported, hi - result.watermark_before)
        result.watermark = read_watermark(conn)
        result.compacted_partitions = compact(lake)
        if retention and settings.retention_days:
            plan, (result.retention_rows_deleted, result.retention_dates_deleted) = _retain(
                conn, settings, on_retention
            )
            result.retention = plan.as_dict()
    result.seconds = time.perf_counter() - started
    return result


def _prefetched(
    conninfo: dict[str, Any], ranges: Iterator[tuple[int, int]], readers: int = READERS
) -> Iterator[tuple[int, int, pa.Table]]:
    """Each range's rows in order, reading the next ranges from PostgreSQL while the caller writes the current one."""
    with ThreadPoolExecutor(max_workers=readers, thread_name_prefix="lake-read") as pool:
        pending: deque[tuple[int, int, Future[pa.Table]]] = deque()
        for lo, hi in ranges:
            pending.append((lo, hi, pool.submit(stream_range, conninfo, lo, hi)))
            if len(pending) > readers:
                lo, hi, table = pending.popleft()
                yield lo, hi, table.result()
        while pending:
            lo, hi, table = pending.popleft()
            yield lo, hi, table.result()


def _commit_chunk(
    conn: psycopg.Connection[Any], lake: Path, lo: int, hi: int, table: pa.Table, result: ExportResult
) -> None:
    staging = lake / "_staging"
    if table.num_rows:
        result.files_written += write_staged(table, staging, lo, hi)
    _commit_watermark(conn, hi, table.num_rows)  # the commit point: from here on the staged files are the lake's
    recover(lake, hi)
    result.exported += table.num_rows
    result.chunks.append((lo, hi, table.num_rows))


# --- compaction ------------------------------------------------------------------------------------------------


def _needs_compaction(files: list[Path], max_rows: int) -> bool:
    """Many files, or several small ones, and not too big to rewrite: a date of two big chunk files stays as is."""
    if len(files) < 2:
        return False
    total = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
    return total <= max_rows and (len(files) >= COMPACT_MIN_FILES or total / len(files) < SMALL_FILE_ROWS)


def compact(lake: Path, *, max_rows: int = COMPACT_MAX_ROWS) -> int:
    """Merge a date's files into one sorted file when they are small (crash-safe: see ``recover``)."""
    events = events_dir(lake)
    merged = 0
    for day in sorted(d for d in events.glob("date=*") if d.is_dir()) if events.exists() else ():
        parts = {p: parse_part(p.name) for p in day.glob("part-*.parquet")}
        ranges = [r for r in parts.values() if r]
        files = sorted(p for p, r in parts.items() if r)
        if not _needs_compaction(files, max_rows):
            continue
        table = pq.read_table(files, schema=LAKE_SCHEMA).sort_by([("user_id", "ascending"), ("seq", "ascending")])
        lo, hi = min(r[0] for r in ranges), max(r[1] for r in ranges)
        final = day / f"part-{lo:012d}-{hi:012d}-c.parquet"
        tmp = day / f".{final.name}.tmp"
        pq.write_table(table, tmp, compression="zstd", row_group_size=ROW_GROUP_ROWS, use_dictionary=DICTIONARY_COLUMNS)
        os.replace(tmp, final)  # from here recovery deletes the inputs even if we die now
        _fsync_dir(day)
        for f in files:
            if f != final:
                f.unlink()
        merged += 1
    return merged


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
