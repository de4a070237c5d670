"""``floyo features build``: the feature tables, computed from the lake and written back into it."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import polars as pl

from features import lake as lake_mod
from features.dfg import dfg
from features.profiles import profiles
from features.sequences import sequences
from features.sessions import DEFAULT_IDLE_GAP, assign_sessions, session_table
from features.transactions import transactions

EVENT_COLUMNS = ("seq", "user_id", "ts", "kind", "root", "path", "ext", "tool")
CORE_TABLES = ("sessions", "transactions", "sequences")


def feature_tables(
    events: pl.LazyFrame, *, idle_gap: timedelta = DEFAULT_IDLE_GAP, only: tuple[str, ...] | None = None
) -> dict[str, pl.LazyFrame]:
    """The feature tables of an events frame (all of ``lake.FEATURE_TABLES``, or ``only`` those), lazy over the
    sessionised events, which are materialised once here."""
    # read the lake and sessionise once: every table starts from this sort, which polars would redo per branch
    assigned = assign_sessions(events.select(EVENT_COLUMNS), idle_gap=idle_gap).collect().lazy()
    tables = {
        "sessions": session_table(assigned),
        "transactions": transactions(assigned),
        "sequences": sequences(assigned),
        "profiles": profiles(assigned),
        "dfg": dfg(assigned),
    }
    return {name: frame for name, frame in tables.items() if only is None or name in only}


def write_table(frame: pl.DataFrame, lake: Path, name: str) -> Path:
    """Replace ``lake/<name>/<name>.parquet`` atomically (write aside, then rename)."""
    folder = lake / name
    folder.mkdir(parents=True, exist_ok=True)
    final, tmp = folder / f"{name}.parquet", folder / f".{name}.parquet.tmp"
    frame.write_parquet(tmp, compression="zstd", row_group_size=128 * 1024)
    os.replace(tmp, final)
    return final


def build_features(
    lake: Path,
    *,
    idle_gap: timedelta = DEFAULT_IDLE_GAP,
    only: tuple[str, ...] | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, int]:
    """Compute the feature tables from the lake's events and write them into the lake; rows per table."""
    tables = feature_tables(lake_mod.events(path=lake), idle_gap=idle_gap, only=only)
    frames = pl.collect_all(list(tables.values()))  # one pass: shared subplans (sessionising) are computed once
    rows: dict[str, int] = {}
    for name, frame in zip(tables, frames, strict=True):
        write_table(frame, lake, name)
        rows[name] = frame.height
        if progress:
            progress(name)
    return rows
