"""Repeated workflows on Spark SQL: the local engine's algorithm (``models.workflows``), step for step, as
window functions and joins partitioned by user.

A user's events are numbered in time order (``i``, per user); the next ``lookahead`` events of each one come
from ``lead`` over a window partitioned by user, and the first of each item within the longest time window is
an occurrence (MLlib's PrefixSpan has no time windows, hence SQL). Chains grow by joining their occurrences'
last event to the occurrences starting there, counted per window, scored with the same expressions (same
floating-point operations, in the same order) and kept under the same limits. Each level's chains are small:
they are collected and reported by the local engine's ``_report``, so both engines give equal workflows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl

from models.workflows import WorkflowLimits, _report

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

SEP = "\u001e"  # joins a chain's steps into its key: never in an item


def mine_workflows(actions: DataFrame, *, limits: WorkflowLimits) -> pl.DataFrame:
    """Workflows per user of ``user_id, ts, item, session_id, pos`` rows, as ``models.workflows.mine_workflows``
    reports them (without evidence); an empty frame when there is no action."""
    # each level is materialised (``_extend``'s local checkpoints cut the lineage): a chain's plan holds its
    # parents' twice over (support and occurrences), so without them the plans double per level
    ev = _indexed(actions).localCheckpoint()
    if ev.isEmpty():
        return pl.DataFrame()
    occ = _occurrences(ev, limits).localCheckpoint()
    counts = ev.groupBy("user_id", "item").count().localCheckpoint()
    base = _base_rates(ev, occ, counts, limits).localCheckpoint()
    chains, chain_occ = _singles(ev, counts, limits)
    levels: list[pl.DataFrame] = []
    for n in range(2, max(limits.max_steps, 2) + 1):
        chains, chain_occ = _extend(chains, chain_occ, occ, (base, counts), limits, n)
        levels.append(_collected(chains))
        if levels[-1].is_empty():
            break
    return _report(levels)


def _indexed(actions: DataFrame) -> DataFrame:
    """Each user's events numbered ``i`` = 0, 1, … in time order (ties: session, then position in it)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F  # noqa: N812

    order = Window.partitionBy("user_id").orderBy("ts", "session_id", "pos")
    return actions.select("user_id", "ts", "item", (F.row_number().over(order) - 1).alias("i"))


def _occurrences(ev: DataFrame, limits: WorkflowLimits) -> DataFrame:
    """``user_id, i, b, delay_s, j``: each event's first later event of each item within the longest window,
    among its next ``lookahead`` events (``lead`` over the user's events, one sort)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F  # noqa: N812

    order = Window.partitionBy("user_id").orderBy("i")
    t = F.unix_micros("ts")
    # polars turns ``/ 1e6`` into a product by the reciprocal, which rounds differently in the last bit
    per_micro = F.lit(1 / 1e6)
    ahead = F.array(*[
        F.struct(F.lead("item", k).over(order).alias("b"), ((F.lead(t, k).over(order) - t) * per_micro).alias("delay_s"),
                 (F.col("i") + k).alias("j"))
        for k in range(1, limits.lookahead + 1)
    ])  # fmt: skip
    windowed = ev.select("user_id", "i", F.col("item").alias("a"), ahead.alias("ahead"))  # a generator takes no window
    # the first of each item among an event's next ones, found in its own row: the array is in ``j`` order, so an
    # item's first place in it is its smallest ``j`` (a group-by over ~20 rows per event cost far more)
    within = F.filter(
        "ahead",
        lambda x: x["delay_s"].isNotNull() & (x["delay_s"] <= max(limits.windows))
        & (F.lit(True) if limits.allow_repeat else x["b"] != F.col("a")),
    )  # fmt: skip
    kept = windowed.select("user_id", "i", within.alias("ahead")).select(
        "user_id", "i", "ahead", F.transform("ahead", lambda x: x["b"]).alias("bs")
    )
    first = F.transform(F.array_distinct("bs"), lambda b: F.col("ahead")[F.array_position("bs", b) - 1])
    return kept.select("user_id", "i", F.inline(first)).select("user_id", "i", "b", "delay_s", "j")


def _per_window(frame: DataFrame, keys: list[str], name: str, limits: WorkflowLimits) -> DataFrame:
    """``keys, window_s, <name>``: how many rows of ``frame`` have ``delay_s`` within each window (one pass)."""
    from pyspark.sql import functions as F  # noqa: N812

    wide = frame.groupBy(*keys).agg(
        *[F.sum(F.when(F.col("delay_s") <= w, 1).otherwise(0)).alias(f"w{k}") for k, w in enumerate(limits.windows)]
    )
    long = F.array(*[
        F.struct(F.lit(float(w)).alias("window_s"), F.col(f"w{k}").alias(name)) for k, w in enumerate(limits.windows)
    ])  # fmt: skip
    return wide.select(*keys, F.inline(long))


def _base_rates(ev: DataFrame, occ: DataFrame, counts: DataFrame, limits: WorkflowLimits) -> DataFrame:
    """``user_id, b, window_s, base``: the share of a user's events (but B's own) followed by B within the window."""
    from pyspark.sql import functions as F  # noqa: N812

    n_events = ev.groupBy("user_id").agg(F.count("*").alias("n_events"))
    eligible = F.col("n_events") - (0 if limits.allow_repeat else F.col("count"))
    followed = _per_window(occ, ["user_id", "b"], "followed", limits)
    return (
        followed.join(counts.withColumnRenamed("item", "b"), ["user_id", "b"])
        .join(n_events, "user_id")
        .select("user_id", "b", "window_s", (F.col("followed") / eligible).alias("base"))
    )


def _singles(ev: DataFrame, counts: DataFrame, limits: WorkflowLimits) -> tuple[DataFrame, DataFrame]:
    """One-step chains (items done often enough to start a workflow) and their occurrences (their events)."""
    from pyspark.sql import functions as F  # noqa: N812

    chains = counts.filter(F.col("count") >= limits.min_support).select(
        F.concat_ws(SEP, "user_id", "item").alias("chain"),
        "user_id",
        F.array("item").alias("steps"),
        F.array().cast("array<double>").alias("windows_s"),
        F.col("count").alias("support"),
    )
    starts = chains.select("chain", "user_id", F.col("steps")[0].alias("item"))
    chain_occ = ev.join(starts, ["user_id", "item"]).select(
        "chain", "user_id", F.col("i").alias("start"), F.col("i").alias("last"), "ts"
    )
    return chains, chain_occ


def _extend(
    chains: DataFrame,
    chain_occ: DataFrame,
    occ: DataFrame,
    rates: tuple[DataFrame, DataFrame],
    limits: WorkflowLimits,
    n: int,
) -> tuple[DataFrame, DataFrame]:
    """Chains of ``n`` steps (each reported one of ``n - 1`` steps and one more, at its best window), with occurrences."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F  # noqa: N812

    base, counts = rates
    # read twice (support, then the winners' occurrences): kept once computed, as is ``best``
    step = chain_occ.join(occ.withColumnRenamed("i", "last"), ["user_id", "last"]).localCheckpoint(eager=False)
    support = _per_window(step, ["chain", "b"], "support", limits).filter(F.col("support") >= limits.min_support)
    second = F.when(F.size("steps") >= 2, F.col("steps")[1]).otherwise(F.col("b"))  # B itself when growing pairs
    prefix = chains.select("chain", "user_id", "steps", "windows_s", F.col("support").alias("prefix_support"))
    scored = (
        support.join(prefix, "chain")
        .join(base, ["user_id", "b", "window_s"])
        .withColumn("item", second)
        .join(counts, ["user_id", "item"])
        .select("*", *_measures())
        .filter(_passes(limits))
    )
    strongest = Window.partitionBy("chain", "b").orderBy(F.col("lift").desc(), F.col("window_s").asc())
    best = (
        scored.withColumn("rank", F.row_number().over(strongest))
        .filter(F.col("rank") == 1)
        .withColumn("next", F.concat_ws(SEP, "chain", "b"))
        .localCheckpoint(eager=False)
    )
    earlier = [f"d{k}" for k in range(1, n - 1)]
    grown_occ = (
        step.join(best.select("chain", "b", "next", F.col("window_s").alias("w")), ["chain", "b"])
        .filter(F.col("delay_s") <= F.col("w"))
        .select(F.col("next").alias("chain"), "user_id", "start", F.col("j").alias("last"), "ts", *earlier,
                F.col("delay_s").alias(f"d{n - 1}"))
    )  # fmt: skip
    found = grown_occ.groupBy("chain").agg(
        *_delay_stats([*earlier, f"d{n - 1}"]),
        F.countDistinct(F.to_date("ts")).alias("days"),
        F.max("ts").alias("last_seen"),
    )
    grown_occ = grown_occ.localCheckpoint()  # what this level's chains and the next level both read
    grown = best.select(
        F.col("next").alias("chain"), F.col("chain").alias("parent"), "user_id",
        F.concat("steps", F.array("b")).alias("steps"), F.concat("windows_s", F.array("window_s")).alias("windows_s"),
        "support", "prefix_support", "confidence", "lift", "conviction", "backward",
    ).join(found, "chain").filter(F.col("days") >= limits.min_days).localCheckpoint()  # fmt: skip
    return grown, grown_occ.join(grown.select("chain"), "chain", "left_semi")


def _measures() -> list[Column]:
    """Confidence, lift, conviction (plain and cautious) and backward confidence: ``models.workflows._measures``,
    with Spark's division by zero (an error) replaced by the infinity polars gives for a step never missed."""
    from pyspark.sql import functions as F  # noqa: N812

    confidence = F.col("support") / F.col("prefix_support")
    no_base = F.col("base") >= 1
    never_missed = F.when(confidence == 1, F.lit(float("inf")))
    return [
        confidence.alias("confidence"),
        (confidence / F.col("base")).alias("lift"),
        F.when(no_base, 1.0)
        .otherwise(never_missed.otherwise((1 - F.col("base")) / (1 - confidence)))
        .alias("conviction"),
        F.when(no_base, 1.0).otherwise((1 - F.col("base")) / (1 - _wilson_low(confidence))).alias("cautious"),
        (F.col("support") / F.col("count")).alias("backward"),
    ]


def _wilson_low(confidence: Column, z: float = 1.96) -> Column:
    """The lower end of the 95% Wilson interval, with the local engine's operations in its order."""
    from pyspark.sql import functions as F  # noqa: N812

    n = F.col("prefix_support")
    zz = F.lit(z * z)
    spread = F.sqrt(confidence * (1 - confidence) / n + zz / (4 * n * n))
    return (confidence + zz / (2 * n) - F.lit(z) * spread) / (1 + zz / n)


def _passes(limits: WorkflowLimits) -> Column:
    """Confident, lifted or near-certain, and not started by chance (``models.workflows._passes``)."""
    from pyspark.sql import functions as F  # noqa: N812

    return (
        (F.col("confidence") >= limits.min_confidence)
        & ((F.col("lift") >= limits.min_lift) | (F.col("cautious") >= limits.min_conviction))
        & (F.col("backward") >= limits.min_backward)
    )


def _delay_stats(columns: list[str]) -> list[Column]:
    """Per-step delay quartiles as lists: polars' median (linear between the middle two), 25% ``lower`` and 75%
    ``higher`` (the value at floor / ceil of q·(n-1) in sorted order)."""
    from pyspark.sql import functions as F  # noqa: N812

    def at(values: Column, index: Column) -> Column:
        return F.element_at(values, (index + 1).cast("int"))

    def median(c: str) -> Column:
        values = F.sort_array(F.collect_list(c))
        pos = (F.size(values) - 1) * 0.5
        low, high = at(values, F.floor(pos)), at(values, F.ceil(pos))
        return low + (high - low) * (pos - F.floor(pos))

    def quantile(c: str, q: float, rounding: str) -> Column:
        values = F.sort_array(F.collect_list(c))
        pos = (F.size(values) - 1) * q
        return at(values, F.floor(pos) if rounding == "lower" else F.ceil(pos))

    return [
        F.array(*[median(c) for c in columns]).alias("delays_median_s"),
        F.array(*[quantile(c, 0.25, "lower") for c in columns]).alias("delays_p25_s"),
        F.array(*[quantile(c, 0.75, "higher") for c in columns]).alias("delays_p75_s"),
    ]


def _collected(chains: DataFrame) -> pl.DataFrame:
    """One level's chains on the driver, in the local engine's column types."""
    from pyspark.sql import functions as F  # noqa: N812

    rows = chains.select(
        "chain", "parent", "user_id", "steps", "windows_s", "support", "prefix_support", "confidence", "lift",
        "conviction", "backward", "delays_median_s", "delays_p25_s", "delays_p75_s", "days",
        F.unix_micros("last_seen").alias("last_seen"),
    ).collect()  # fmt: skip
    schema: dict[str, pl.DataType | type[pl.DataType]] = {
        "chain": pl.String, "parent": pl.String, "user_id": pl.String, "steps": pl.List(pl.String),
        "windows_s": pl.List(pl.Float64), "support": pl.UInt32, "prefix_support": pl.UInt32,
        "confidence": pl.Float64, "lift": pl.Float64, "conviction": pl.Float64, "backward": pl.Float64,
        "delays_median_s": pl.List(pl.Float64), "delays_p25_s": pl.List(pl.Float64),
        "delays_p75_s": pl.List(pl.Float64), "days": pl.UInt32, "last_seen": pl.Int64,
    }  # fmt: skip
    frame = pl.DataFrame([r.asDict() for r in rows], schema=schema)
    return frame.with_columns(pl.from_epoch("last_seen", time_unit="us").dt.replace_time_zone("UTC"))
