"""Summaries of the lake's events for exploring it (``notebooks/01-explore-events``): each a small polars frame."""

from __future__ import annotations

import polars as pl

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def daily_volume(events: pl.LazyFrame) -> pl.DataFrame:
    """``day, events, users``: events per UTC day and how many people were active."""
    return (
        events.group_by(day=pl.col("ts").dt.date())
        .agg(events=pl.len(), users=pl.col("user_id").n_unique())
        .sort("day")
        .collect()
    )


def user_activity(events: pl.LazyFrame) -> pl.DataFrame:
    """``user_id, events, days, runs, first, last``: one row per person, busiest first."""
    return (
        events.group_by("user_id")
        .agg(
            events=pl.len(),
            days=pl.col("ts").dt.date().n_unique(),
            runs=(pl.col("kind") == "run").sum(),
            first=pl.col("ts").min(),
            last=pl.col("ts").max(),
        )
        .sort(["events", "user_id"], descending=[True, False])
        .collect()
    )


def top_values(events: pl.LazyFrame, column: str, *, n: int = 15, runs: bool | None = None) -> pl.DataFrame:
    """``<column>, events, share``: the ``n`` most frequent non-empty values (``runs``: only runs, or no runs)."""
    frame = events
    if runs is not None:
        frame = frame.filter((pl.col("kind") == "run") == runs)
    counts = frame.filter(pl.col(column).is_not_null() & (pl.col(column) != "")).group_by(column).agg(events=pl.len())
    return (
        counts.with_columns(share=pl.col("events") / pl.col("events").sum())
        .sort(["events", column], descending=[True, False])
        .head(n)
        .collect()
    )


def weekday_hour(events: pl.LazyFrame) -> pl.DataFrame:
    """A 7 x 24 matrix of event counts: one row per weekday (Mon first), columns ``0``..``23`` (UTC hours)."""
    counts = (
        events.group_by(weekday=pl.col("ts").dt.weekday(), hour=pl.col("ts").dt.hour()).agg(events=pl.len()).collect()
    )
    full = pl.DataFrame({"weekday": [d for d in range(1, 8) for _ in range(24)], "hour": list(range(24)) * 7},
                        schema={"weekday": pl.Int8, "hour": pl.Int8})  # fmt: skip
    grid = full.join(counts.cast({"weekday": pl.Int8, "hour": pl.Int8}), on=["weekday", "hour"], how="left")
    wide = grid.with_columns(pl.col("events").fill_null(0)).pivot("hour", index="weekday", values="events")
    return wide.sort("weekday").with_columns(pl.col("weekday").replace_strict(list(range(1, 8)), list(WEEKDAYS)))
