"""The directly-follows graph: how often action b directly follows action a in a session, and how long it takes."""

from __future__ import annotations

import polars as pl

from features.sequences import with_actions


def directly_follows(assigned: pl.LazyFrame) -> pl.LazyFrame:
    """Each consecutive pair of events within a session: user, ``source``, ``target``, ``delay_s``."""
    acted = with_actions(assigned)
    same = pl.col("session_id") == pl.col("session_id").shift(1)
    return (
        acted.with_columns(source=pl.col("action").shift(1), same=same)
        .filter(pl.col("same").fill_null(False))
        .select("user_id", "session_id", "source", target=pl.col("action"), delay_s=pl.col("delta_s"))
    )


def dfg(assigned: pl.LazyFrame, *, per_user: bool = False) -> pl.LazyFrame:
    """Edges ``source -> target`` with ``count`` and ``median_delay_s`` (as pm4py's performance DFG, median)."""
    keys = ["user_id", "source", "target"] if per_user else ["source", "target"]
    return (
        directly_follows(assigned)
        .group_by(keys)
        .agg(count=pl.len(), median_delay_s=pl.col("delay_s").median(), mean_delay_s=pl.col("delay_s").mean())
        .sort([*keys[:-2], "count", "source", "target"], descending=[*([False] * (len(keys) - 2)), True, False, False])
    )
