"""Sessions: a user's events split wherever the idle gap between two events exceeds a threshold."""

from __future__ import annotations

from datetime import timedelta

import polars as pl

DEFAULT_IDLE_GAP = timedelta(minutes=30)


def assign_sessions(events: pl.LazyFrame, *, idle_gap: timedelta = DEFAULT_IDLE_GAP) -> pl.LazyFrame:
    """Events sorted by (user_id, ts, seq) with ``session_id``: a gap strictly longer than ``idle_gap`` starts one."""
    ordered = events.sort(["user_id", "ts", "seq"])
    new_user = pl.col("user_id") != pl.col("user_id").shift(1)
    long_gap = (pl.col("ts") - pl.col("ts").shift(1)) > pl.lit(idle_gap)
    starts = (new_user | long_gap).fill_null(True)
    return ordered.with_columns(session_id=starts.cast(pl.Int64).cum_sum() - 1)


def session_table(assigned: pl.LazyFrame) -> pl.LazyFrame:
    """One row per session: user, start, end, duration, events, distinct paths and tools."""
    return (
        assigned.group_by("session_id", maintain_order=True)
        .agg(
            pl.col("user_id").first(),
            start=pl.col("ts").min(),
            end=pl.col("ts").max(),
            n_events=pl.len(),
            n_paths=pl.col("path").filter(pl.col("path") != "").n_unique(),
            n_runs=(pl.col("kind") == "run").sum(),
        )
        .with_columns(duration_s=(pl.col("end") - pl.col("start")).dt.total_microseconds() / 1e6)
    )


def sessions(events: pl.LazyFrame, *, idle_gap: timedelta = DEFAULT_IDLE_GAP) -> pl.LazyFrame:
    """The session table of raw events."""
    return session_table(assign_sessions(events, idle_gap=idle_gap))
