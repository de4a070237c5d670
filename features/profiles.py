"""Per-user profiles: when they are active (weekday x hour), what they touch, and how much per day."""

from __future__ import annotations

import polars as pl

TOP_N = 5
HOURS_OF_WEEK = 7 * 24


def _top(column: str, name: str, events: pl.LazyFrame, where: pl.Expr) -> pl.LazyFrame:
    counts = events.filter(where).group_by("user_id", column).agg(n=pl.len())
    ranked = counts.sort(["user_id", "n", column], descending=[False, True, False])
    return ranked.group_by("user_id", maintain_order=True).agg(pl.col(column).head(TOP_N).alias(name))


def profiles(events: pl.LazyFrame) -> pl.LazyFrame:
    """One row per user: counts, ``active_hours`` (168 counts, Monday 00h first, UTC), top exts/tools/roots."""
    slot = (pl.col("ts").dt.weekday().cast(pl.Int32) - 1) * 24 + pl.col("ts").dt.hour().cast(pl.Int32)
    base = events.group_by("user_id").agg(
        n_events=pl.len(),
        active_days=pl.col("ts").dt.date().n_unique(),
        first_ts=pl.col("ts").min(),
        last_ts=pl.col("ts").max(),
    )
    files = pl.col("kind") != "run"
    grid = base.select("user_id").join(
        pl.LazyFrame({"slot": range(HOURS_OF_WEEK)}, schema={"slot": pl.Int32}), how="cross"
    )
    counts = events.group_by("user_id", slot.alias("slot")).agg(n=pl.len())
    hours = (
        grid.join(counts, on=["user_id", "slot"], how="left")
        .sort("user_id", "slot")
        .group_by("user_id", maintain_order=True)
        .agg(active_hours=pl.col("n").fill_null(0).cast(pl.Int64))
    )
    return (
        base.with_columns(events_per_active_day=pl.col("n_events") / pl.col("active_days"))
        .join(hours, on="user_id", how="left")
        .join(_top("ext", "top_exts", events, files & (pl.col("ext") != "")), on="user_id", how="left")
        .join(_top("tool", "top_tools", events, ~files), on="user_id", how="left")
        .join(_top("root", "top_roots", events, pl.lit(True)), on="user_id", how="left")
        .with_columns([pl.col(c).fill_null([]) for c in ("top_exts", "top_tools", "top_roots")])
        .sort("user_id")
    )
