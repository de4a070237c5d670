"""Repeated workflows: frequent sequential patterns "A, then B within N seconds", per user.

For every event of item A we look at the next events of the same user (at most ``lookahead`` of them) and
keep, for each other item B, the first one within the window: that is one occurrence of A→B and its delay.
``support`` counts those occurrences, ``confidence`` = support / count(A), and ``lift`` compares confidence
with how often B follows any event of that user within the window (any event but B's own when A→A is not
counted), so a B that happens all the time does not look like a workflow. Several windows are tried; each
pattern keeps the one where its lift is highest. The delay distribution says how long an automation may wait.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl


@dataclass(frozen=True)
class WorkflowLimits:
    """What counts as a workflow and how much work finding them may take."""

    windows: tuple[float, ...] = (30.0, 60.0, 120.0, 180.0, 300.0)  # seconds; each pair keeps its best one
    lookahead: int = 20  # events after A that are examined
    min_support: int = 10
    min_confidence: float = 0.3
    min_lift: float = 2.0
    allow_repeat: bool = False  # A→A (the same item again)


def action_items(events: pl.DataFrame) -> pl.DataFrame:
    """``user_id, ts, item`` where item is ``run:<tool>`` for runs, else ``<kind>:<ext>`` (``(none)``)."""
    ext = pl.when(pl.col("ext") == "").then(pl.lit("(none)")).otherwise(pl.col("ext"))
    item = (
        pl.when(pl.col("kind") == "run")
        .then(pl.lit("run:") + pl.col("tool").fill_null("?"))
        .otherwise(pl.col("kind") + pl.lit(":") + ext.fill_null("(none)"))
    )
    return events.select("user_id", "ts", item.alias("item"))


def occurrences(items: pl.DataFrame, *, limits: WorkflowLimits) -> pl.DataFrame:
    """Each event ``i`` with each item first seen after it within the window: ``user_id, i, a, b, delay_s, ts``."""
    ev = items.sort("user_id", "ts", maintain_order=True).with_row_index("i")
    ahead = []
    for k in range(1, limits.lookahead + 1):
        nxt = ev.select(
            "user_id", "i", "ts", pl.col("item").alias("a"),
            pl.col("item").shift(-k).over("user_id").alias("b"),
            ((pl.col("ts").shift(-k).over("user_id") - pl.col("ts")).dt.total_microseconds() / 1e6).alias("delay_s"),
            pl.lit(k).alias("k"),
        )  # fmt: skip
        ahead.append(nxt.filter(pl.col("b").is_not_null() & (pl.col("delay_s") <= max(limits.windows))))
    pairs = pl.concat(ahead)
    if not limits.allow_repeat:
        pairs = pairs.filter(pl.col("a") != pl.col("b"))
    first = pairs.sort("i", "k").unique(["i", "b"], keep="first", maintain_order=True)
    return first.select("user_id", "i", "a", "b", "delay_s", "ts")


def _eligible(limits: WorkflowLimits) -> pl.Expr:
    """Events that could be followed by B: all of them, or all but B's own when A→A is not counted."""
    return pl.col("n_events") - (0 if limits.allow_repeat else pl.col("count_b"))


def mine_workflows(items: pl.DataFrame, *, limits: WorkflowLimits | None = None) -> pl.DataFrame:
    """Workflows per user with support, confidence, lift, delay quantiles and evidence (days, last seen).

    Each window of ``limits.windows`` is tried and each pattern keeps the window where its lift is highest: a
    tight workflow (save, then test within 30 s) stands out in a short window and drowns in a long one.
    """
    limits = limits or WorkflowLimits()
    occ = occurrences(items, limits=limits)
    per_window = [
        _window_stats(items, occ.filter(pl.col("delay_s") <= w), limits).with_columns(window_s=pl.lit(float(w)))
        for w in limits.windows
    ]
    passing = pl.concat(per_window).filter(
        (pl.col("support") >= limits.min_support)
        & (pl.col("confidence") >= limits.min_confidence)
        & (pl.col("lift") >= limits.min_lift)
    )
    best = passing.sort("lift", "window_s", descending=[True, False]).unique(["user_id", "a", "b"], keep="first")
    columns = ["user_id", "a", "b", "window_s", "support", "confidence", "lift"]
    delays = ["delay_median_s", "delay_p25_s", "delay_p75_s"]
    return best.select(*columns, *delays, "days", "last_seen").sort(
        ["user_id", "support", "confidence", "a", "b"], descending=[False, True, True, False, False]
    )


def _window_stats(items: pl.DataFrame, occ: pl.DataFrame, limits: WorkflowLimits) -> pl.DataFrame:
    """Support, confidence, lift and delays of every pair seen in ``occ`` (occurrences within one window)."""
    n_events = items.group_by("user_id").len("n_events")
    count_a = items.group_by("user_id", pl.col("item").alias("a")).len("count_a")
    base_b = occ.group_by("user_id", "b").len("followed_by_b")
    stats = occ.group_by("user_id", "a", "b").agg(
        pl.len().alias("support"),
        pl.col("delay_s").median().alias("delay_median_s"),
        pl.col("delay_s").quantile(0.25, "lower").alias("delay_p25_s"),
        pl.col("delay_s").quantile(0.75, "higher").alias("delay_p75_s"),
        pl.col("ts").dt.date().n_unique().alias("days"),
        pl.col("ts").max().alias("last_seen"),
    )
    return (
        stats.join(count_a, on=["user_id", "a"])
        .join(base_b, on=["user_id", "b"])
        .join(n_events, on="user_id")
        .join(count_a.rename({"a": "b", "count_a": "count_b"}), on=["user_id", "b"])
        .with_columns((pl.col("support") / pl.col("count_a")).alias("confidence"))
        .with_columns((pl.col("confidence") / (pl.col("followed_by_b") / _eligible(limits))).alias("lift"))
    )
