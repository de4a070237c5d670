"""Sequences: each session's actions in order, with the time since the previous action."""

from __future__ import annotations

import polars as pl

from features.sessions import keyed


def action() -> pl.Expr:
    """One token per event: ``run:<tool>`` for runs, ``<kind>:<ext>`` otherwise (``(none)`` for no extension)."""
    ext = pl.when(pl.col("ext") == "").then(pl.lit("(none)")).otherwise(pl.col("ext"))
    return (
        pl.when(pl.col("kind") == "run")
        .then(pl.lit("run:") + pl.col("tool"))
        .otherwise(pl.col("kind") + pl.lit(":") + ext)
    )


def with_actions(assigned: pl.LazyFrame) -> pl.LazyFrame:
    """Sessionised events with ``action`` and ``delta_s`` (seconds since the previous event of the session, 0 first)."""
    delta = (pl.col("ts") - pl.col("ts").shift(1)).dt.total_microseconds() / 1e6
    first = pl.col("session_id") != pl.col("session_id").shift(1)
    return assigned.with_columns(action=action(), delta_s=pl.when(first.fill_null(True)).then(0.0).otherwise(delta))


def sequences(assigned: pl.LazyFrame) -> pl.LazyFrame:
    """One row per session: keys, user, start, the ordered ``actions`` and their ``deltas_s``."""
    return keyed(
        with_actions(assigned)
        .group_by("session_id", maintain_order=True)
        .agg(
            pl.col("user_id").first(), start=pl.col("ts").first(), actions=pl.col("action"), deltas_s=pl.col("delta_s")
        )
        .with_columns(length=pl.col("actions").list.len())
    )
