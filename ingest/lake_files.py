"""The lake's files: names that carry their seq range, staged writes, promotion, recovery and compaction.

Every write is crash-safe on its own terms (docs/lake.md, "Files and crashes"): a staged file is fsynced with its
directory before the watermark that makes it the lake's is committed; a compacted file is written under a
temporary name, fsynced and renamed before its inputs are deleted. ``recover`` needs only the watermark to bring a
lake left by any crash back to exactly the events at or below it.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from contextlib import suppress
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from floyo import event_schema

ROW_GROUP_ROWS = 128 * 1024
# dictionary-encode the low-cardinality columns only: trying it on event_id (random) costs 30 % of write time
DICTIONARY_COLUMNS = ["kind", "root", "path", "ext", "dest_path", "tool"]
COMPACT_MAX_ROWS = 5_000_000
COMPACT_MIN_FILES = 8  # a date with this many files is merged whatever their size
SMALL_FILE_ROWS = 50_000  # ... and with fewer, when they hold this many rows or fewer on average
STAGING = "_staging"
_PART = re.compile(r"^part-(\d+)-(\d+)(-c)?(?:-\d+)?\.parquet$")
_TS = pa.timestamp("us")
# Lake schema: the exported columns of the registry (floyo/event_schema.py); `date` lives in the directory name
# (hive partitioning). uuid, enum and jsonb are stored as text (see event_schema.AS_TEXT_IN_LAKE).
LAKE_SCHEMA = event_schema.lake_schema()


def events_dir(lake: Path) -> Path:
    """Where the events live in the lake."""
    return lake / "events"


def parse_part(name: str) -> tuple[int, int, bool] | None:
    """(lo, hi, compacted) of a lake file name, None for foreign files."""
    m = _PART.match(name)
    return (int(m.group(1)), int(m.group(2)), bool(m.group(3))) if m else None


def fsync_path(path: Path) -> None:
    """Flush a file's data, or a directory's entries, to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def lake_files(root: Path) -> Iterator[Path]:
    """The files under ``root``'s ``date=*`` directories."""
    if root.exists():
        yield from (p for p in root.glob("date=*/*") if p.is_file())


def _write_parquet(table: pa.Table, path: Path) -> None:
    pq.write_table(table, path, compression="zstd", row_group_size=ROW_GROUP_ROWS, use_dictionary=DICTIONARY_COLUMNS)
    fsync_path(path)  # the data must be on disk before a watermark or a rename makes the file the lake's


# --- one chunk: staged, then promoted ---------------------------------------------------------------------------


def by_date(table: pa.Table) -> Iterator[tuple[date, pa.Table]]:
    """The rows of each UTC event date, in seq order within a date (zero-copy slices when the rows come in date
    order, as they nearly always do: seq follows arrival)."""
    if not table.num_rows:
        return
    dates = pc.cast(pc.cast(table["ts"], _TS), pa.date32()).combine_chunks()
    if not pc.all(pc.less_equal(dates[:-1], dates[1:])).as_py():
        order = pc.sort_indices(dates)  # stable: seq order survives within a date
        table, dates = table.take(order), dates.take(order)
    runs = pc.run_end_encode(dates)
    start = 0
    for end, day in zip(runs.run_ends.to_pylist(), runs.values.to_pylist(), strict=True):
        yield day, table.slice(start, end - start)
        start = end


def write_staged(table: pa.Table, staging: Path, lo: int, hi: int) -> list[Path]:
    """Write the seq range ``(lo, hi]`` into ``staging``, one zstd Parquet file per event date, each fsynced with
    its directory; returns the files (none for an empty range)."""
    written = []
    for day, rows in by_date(table):
        folder = staging / f"date={day.isoformat()}"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"part-{lo + 1:012d}-{hi:012d}-0.parquet"
        _write_parquet(rows, path)
        written.append(path)
    for folder in [*{p.parent for p in written}, staging, staging.parent] if written else []:
        fsync_path(folder)  # each new entry, up to staging's own in the lake
    return written


def promote(lake: Path, staged: list[Path]) -> None:
    """Move committed staged files into ``events/``. No fsync: if the renames are lost, ``recover`` redoes them
    (the staged copies are durable and at or below the watermark)."""
    events = events_dir(lake)
    for path in staged:
        dest = events / path.parent.name / path.name
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, dest)
    for folder in [*{p.parent for p in staged}, lake / STAGING]:
        with suppress(OSError):  # only once empty: staging never outlives an export
            folder.rmdir()


# --- recovery ---------------------------------------------------------------------------------------------------


def recover(lake: Path, watermark: int) -> int:
    """Bring the lake to exactly the events at or below ``watermark``; returns how many files were touched."""
    touched = 0
    staging, events = lake / STAGING, events_dir(lake)
    for path in list(lake_files(staging)):
        part = parse_part(path.name)
        if part and part[1] <= watermark:
            promote(lake, [path])
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


# --- compaction -------------------------------------------------------------------------------------------------


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
        _write_parquet(table, tmp)
        os.replace(tmp, final)  # from here recovery deletes the inputs even if we die now
        fsync_path(day)
        for f in files:
            if f != final:
                f.unlink()
        merged += 1
    return merged
