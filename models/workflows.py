"""Repeated workflows: frequent sequential patterns "A, then B within N s, then C within M s…", per user.

For every event of item A we look at the next events of the same user (at most ``lookahead`` of them) and
keep, for each other item B, the first one within the window: that is one occurrence of A→B and its delay.
``support`` counts those occurrences, ``confidence`` = support / count(A), and ``lift`` compares confidence
with how often B follows any event of that user within the window (any event but B's own when A→A is not
counted), so a B that happens all the time does not look like a workflow. Several windows are tried; each
step keeps the one where its lift is highest. The delay distribution says how long an automation may wait.

Chains grow one step at a time: a single item is the one-step chain whose support is its count, pairs are
its first growth, and an occurrence of a reported chain A→…→X (one per start event) goes on with Y when the
first Y after its X comes within the window. Confidence = support / support of the prefix A→…→X; lift is
against the same base rate of Y as a pair's. Only reported chains grow (every measure is anti-monotone but
confidence, and a prefix that is not a workflow makes no workflow longer). See docs/models.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl


@dataclass(frozen=True)
class WorkflowLimits:
    """What counts as a workflow and how much work finding them may take."""

    windows: tuple[float, ...] = (30.0, 60.0, 120.0, 180.0, 300.0)  # seconds; each step keeps its best one
    lookahead: int = 20  # events after A that are examined
    min_support: int = 10
    min_confidence: float = 0.3
    min_lift: float = 2.0
    min_conviction: float = 5.0  # or this conviction, on a cautious confidence: near-certain steps of frequent items
    min_backward: float = 0.3  # support / count of the chain's second step: its start is not a chance one
    min_days: int = 3  # distinct days it was seen on: a habit, not one afternoon's bulk rename
    allow_repeat: bool = False  # A→A (the same item again)
    max_steps: int = 4  # longest chain A→…→X; 2 finds pairs only


OCCURRENCE_SLICE = 500_000  # events whose occurrences are found at a time
USER_BATCH_EVENTS = 1_000_000  # events mined at a time, whole users: their occurrences and joins take ~1 GB


def action_items(events: pl.DataFrame) -> pl.DataFrame:
    """``user_id, ts, item`` where item is ``run:<tool>`` for runs, else ``<kind>:<ext>`` (``(none)``)."""
    ext = pl.when(pl.col("ext") == "").then(pl.lit("(none)")).otherwise(pl.col("ext"))
    item = (
        pl.when(pl.col("kind") == "run")
        .then(pl.lit("run:") + pl.col("tool").fill_null("?"))
        .otherwise(pl.col("kind") + pl.lit(":") + ext.fill_null("(none)"))
    )
    return events.select("user_id", "ts", item.alias("item"))


def _indexed(items: pl.DataFrame) -> pl.DataFrame:
    """Events in user and time order with their row number ``i`` (a user's events are consecutive)."""
    return items.sort("user_id", "ts", maintain_order=True).with_row_index("i")


def occurrences(items: pl.DataFrame, *, limits: WorkflowLimits) -> pl.DataFrame:
    """Each event ``i`` with each item first seen after it within the window: ``user_id, i, a, b, delay_s, ts, j``.

    ``j`` is the row number of that next event (in ``items`` sorted by user and time): where a chain goes on.
    """
    return _occurrences(_indexed(items), limits)


def _occurrences(ev: pl.DataFrame, limits: WorkflowLimits) -> pl.DataFrame:
    """``occurrences`` a slice of events at a time (each with the ``lookahead`` rows after it): the pairs before
    deduplication are many times the events, so only one slice's are ever held. Slices split ``i``, and the
    order within one ``i`` is by ``j``, so the result is the one a single pass gave."""
    parts = []
    for lo in range(0, max(ev.height, 1), OCCURRENCE_SLICE):
        part = _slice_occurrences(ev.slice(lo, OCCURRENCE_SLICE + limits.lookahead), limits)
        parts.append(part.filter(pl.col("i") < lo + OCCURRENCE_SLICE))
    return pl.concat(parts)


def _slice_occurrences(ev: pl.DataFrame, limits: WorkflowLimits) -> pl.DataFrame:
    # a user's events are consecutive, so the k-th next row is the user's own when its user_id is the same:
    # a plain shift, much cheaper than a shift over a window per user
    lazy, ahead = ev.lazy(), []
    for k in range(1, limits.lookahead + 1):
        nxt = lazy.select(
            "user_id", "i", "ts", pl.col("item").alias("a"), pl.col("item").shift(-k).alias("b"),
            ((pl.col("ts").shift(-k) - pl.col("ts")).dt.total_microseconds() / 1e6).alias("delay_s"),
            (pl.col("i") + k).alias("j"), (pl.col("user_id").shift(-k) == pl.col("user_id")).alias("same"),
        )  # fmt: skip
        ahead.append(nxt.filter(pl.col("same") & (pl.col("delay_s") <= max(limits.windows))).drop("same"))
    pairs = pl.concat(ahead)
    if not limits.allow_repeat:
        pairs = pairs.filter(pl.col("a") != pl.col("b"))
    first = pairs.sort("i", "j").unique(["i", "b"], keep="first", maintain_order=True)
    return first.select("user_id", "i", "a", "b", "delay_s", "ts", "j").collect()


def mine_workflows(
    items: pl.DataFrame, *, limits: WorkflowLimits | None = None, evidence: bool = False
) -> pl.DataFrame:
    """Workflows per user (pairs and longer chains) with support, confidence, lift, delays and evidence.

    One row per chain: ``steps`` (A, B, …), ``windows_s`` and ``delays_{median,p25,p75}_s`` (one per step after
    the first), ``prefix_support`` (the confidence's denominator) and ``extensions`` (how many reported rows
    are this one and one more step); ``a``, ``b``, ``window_s`` and ``delay_*_s`` describe the first step A→B.
    With ``evidence`` also ``delays_p90_s``, ``first_seen``, ``examples`` (the start times of the latest five
    occurrences, oldest first) and ``base`` (the last step's base rate at its window): what a suggestion shows.
    """
    limits = limits or WorkflowLimits()
    batches = [_mine_batch(part, limits, evidence) for part in user_batches(items, USER_BATCH_EVENTS)]
    # every measure is a user's own, and the report's order is total, so batch by batch is the whole at once
    return _sort(pl.concat(batches)) if len(batches) > 1 else batches[0]


def user_batches(items: pl.DataFrame, max_events: int) -> list[pl.DataFrame]:
    """``items`` split by user into frames of about ``max_events`` rows (a user is never split; a user with more
    rows is a batch of their own), each in ``items``' order: one at a time, they bound the mining's memory."""
    if items.height <= max_events:
        return [items]
    sizes = items.group_by("user_id", maintain_order=True).len()
    batch = (sizes["len"].cum_sum() - 1) // max_events  # a batch starts where the running total crosses a multiple
    of_user = sizes.select("user_id", batch.alias("_batch"))
    tagged = items.join(of_user, on="user_id", how="left", maintain_order="left")
    return [part.drop("_batch") for part in tagged.partition_by("_batch", maintain_order=True)]


def _mine_batch(items: pl.DataFrame, limits: WorkflowLimits, evidence: bool) -> pl.DataFrame:
    ev = _indexed(items)
    occ = _occurrences(ev, limits).select("i", "b", "delay_s", "j")
    counts = ev.group_by("user_id", "item").len("count")
    base = _base_rates(ev, occ, counts, limits)
    chains, chain_occ = _singles(ev, counts, limits)
    levels: list[pl.DataFrame] = []
    for n in range(2, max(limits.max_steps, 2) + 1):
        chains, chain_occ = _extend(chains, chain_occ, occ, (base, counts), limits, n, evidence=evidence)
        levels.append(chains)  # the last level may be empty: it still gives the frame its columns
        if chains.is_empty():
            break
    return _report(levels)


def _per_window(frame: pl.DataFrame, keys: list[str], name: str, limits: WorkflowLimits) -> pl.DataFrame:
    """``keys, window_s, <name>``: how many rows of ``frame`` have ``delay_s`` within each window (one pass)."""
    wide = frame.group_by(keys).agg((pl.col("delay_s") <= w).sum().alias(str(float(w))) for w in limits.windows)
    long = wide.unpivot(index=keys, variable_name="window_s", value_name=name)
    return long.with_columns(pl.col("window_s").cast(pl.Float64))


def _base_rates(ev: pl.DataFrame, occ: pl.DataFrame, counts: pl.DataFrame, limits: WorkflowLimits) -> pl.DataFrame:
    """``user_id, b, window_s, base``: the share of a user's events (but B's own) followed by B within the window."""
    n_events = ev.group_by("user_id").len("n_events")
    eligible = pl.col("n_events") - (0 if limits.allow_repeat else pl.col("count"))
    followed = _per_window(occ.join(ev.select("i", "user_id"), on="i"), ["user_id", "b"], "followed", limits)
    return (
        followed.join(counts.rename({"item": "b"}), on=["user_id", "b"])
        .join(n_events, on="user_id")
        .select("user_id", "b", "window_s", (pl.col("followed") / eligible).alias("base"))
    )


def _singles(ev: pl.DataFrame, counts: pl.DataFrame, limits: WorkflowLimits) -> tuple[pl.DataFrame, pl.DataFrame]:
    """One-step chains (items done often enough to start a workflow) and their occurrences (their events)."""
    chains = (
        counts.filter(pl.col("count") >= limits.min_support)
        .sort("user_id", "item")
        .with_row_index("chain")
        .select(
            "chain",
            "user_id",
            pl.concat_list("item").alias("steps"),
            pl.lit([], dtype=pl.List(pl.Float64)).alias("windows_s"),
            pl.col("count").alias("support"),
        )
    )
    first = pl.col("steps").list.first()
    chain_occ = ev.join(chains.select("chain", "user_id", first.alias("item")), on=["user_id", "item"]).select(
        "chain", pl.col("i").alias("start"), pl.col("i").alias("last"), "ts"
    )
    return chains, chain_occ


def _extend(
    chains: pl.DataFrame,
    chain_occ: pl.DataFrame,
    occ: pl.DataFrame,
    rates: tuple[pl.DataFrame, pl.DataFrame],
    limits: WorkflowLimits,
    n: int,
    *,
    evidence: bool = False,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Chains of ``n`` steps (each reported one of ``n - 1`` steps and one more, at its best window), with occurrences.

    Only counts are taken per window; delays, days and last seen only for the winning window's occurrences.
    """
    base, counts = rates
    step = chain_occ.join(occ.rename({"i": "last"}), on="last")
    support = _per_window(step, ["chain", "b"], "support", limits).filter(pl.col("support") >= limits.min_support)
    second = pl.col("steps").list.get(1, null_on_oob=True).fill_null(pl.col("b"))  # B itself when growing pairs
    scored = (
        support.join(chains.select("chain", "user_id", "steps", "windows_s", prefix_support="support"), on="chain")
        .join(base, on=["user_id", "b", "window_s"])
        .with_columns(second.alias("item"))
        .join(counts, on=["user_id", "item"])
        .with_columns(_measures())
        .filter(_passes(limits))
    )
    best = (
        scored.sort("chain", "b", "lift", "window_s", descending=[False, False, True, False])
        .unique(["chain", "b"], keep="first", maintain_order=True)
        .with_row_index("next")
    )
    earlier = [f"d{k}" for k in range(1, n - 1)]  # the delays of the steps the chain already had
    grown_occ = (
        step.join(best.select("chain", "b", "next", "window_s"), on=["chain", "b"])
        .filter(pl.col("delay_s") <= pl.col("window_s"))
        .select(
            pl.col("next").alias("chain"),
            "start",
            pl.col("j").alias("last"),
            "ts",
            *earlier,
            pl.col("delay_s").alias(f"d{n - 1}"),
        )
    )
    delays = [*earlier, f"d{n - 1}"]
    extra = (
        [
            pl.concat_list([pl.col(c).quantile(0.9, "higher") for c in delays]).alias("delays_p90_s"),
            pl.col("ts").min().alias("first_seen"),
            pl.col("ts").sort().tail(5).alias("examples"),
        ]
        if evidence
        else []
    )
    found = grown_occ.group_by("chain").agg(
        *_delay_stats(delays),
        pl.col("ts").dt.date().n_unique().alias("days"),
        pl.col("ts").max().alias("last_seen"),
        *extra,
    )
    grown = best.select(
        pl.col("next").alias("chain"), pl.col("chain").alias("parent"), "user_id",
        pl.concat_list("steps", "b").alias("steps"), pl.concat_list("windows_s", "window_s").alias("windows_s"),
        "support", "prefix_support", "confidence", "lift", "conviction", "backward", *(["base"] if evidence else []),
    ).join(found, on="chain").filter(pl.col("days") >= limits.min_days)  # fmt: skip
    return grown, grown_occ.join(grown.select("chain"), on="chain", how="semi")


def _measures() -> list[pl.Expr]:
    """Confidence, lift, conviction (plain and cautious) and backward confidence of grown chains."""
    confidence = pl.col("support") / pl.col("prefix_support")
    no_base = pl.col("base") >= 1  # Y follows every event: conviction is 0/0, no evidence either way
    return [
        confidence.alias("confidence"),
        (confidence / pl.col("base")).alias("lift"),
        pl.when(no_base).then(1.0).otherwise((1 - pl.col("base")) / (1 - confidence)).alias("conviction"),
        pl.when(no_base).then(1.0).otherwise((1 - pl.col("base")) / (1 - _wilson_low(confidence))).alias("cautious"),
        (pl.col("support") / pl.col("count")).alias("backward"),
    ]


def _wilson_low(confidence: pl.Expr, z: float = 1.96) -> pl.Expr:
    """The lower end of the 95% Wilson interval of a confidence measured on ``prefix_support`` trials."""
    n = pl.col("prefix_support")
    spread = (confidence * (1 - confidence) / n + z * z / (4 * n * n)).sqrt()
    return (confidence + z * z / (2 * n) - z * spread) / (1 + z * z / n)


def _passes(limits: WorkflowLimits) -> pl.Expr:
    """Confident, lifted or near-certain, and not started by chance: what makes a step part of a workflow.

    Lift cannot reach ``min_lift`` when Y follows half of all events anyway (a data scientist saves .py files
    all day), so such a step passes on conviction instead, computed on the lower end of its confidence so
    that a handful of occurrences that all went on is not yet "always". ``backward`` drops a chance start
    glued onto a strong pair (a pdf that happened to precede "save .py, run pytest" ten times).
    """
    return (
        (pl.col("confidence") >= limits.min_confidence)
        & ((pl.col("lift") >= limits.min_lift) | (pl.col("cautious") >= limits.min_conviction))
        & (pl.col("backward") >= limits.min_backward)
    )


def _delay_stats(columns: list[str]) -> list[pl.Expr]:
    """Per-step delay quartiles of a group of chain occurrences, as lists (one value per step)."""
    return [
        pl.concat_list([pl.col(c).median() for c in columns]).alias("delays_median_s"),
        pl.concat_list([pl.col(c).quantile(0.25, "lower") for c in columns]).alias("delays_p25_s"),
        pl.concat_list([pl.col(c).quantile(0.75, "higher") for c in columns]).alias("delays_p75_s"),
    ]


def _report(levels: list[pl.DataFrame]) -> pl.DataFrame:
    """All levels in one frame; each row says how many longer rows extend it, and its first step's columns."""
    counted = []
    for level, longer in zip(levels, [*levels[1:], None], strict=True):
        extensions = pl.lit(0, dtype=pl.UInt32).alias("extensions")
        if longer is not None:
            level = level.join(longer.group_by(chain="parent").len("extensions"), on="chain", how="left")
            extensions = pl.col("extensions").fill_null(0)
        counted.append(level.with_columns(extensions))
    first = {k: pl.col(f"delays_{k}_s").list.first().alias(f"delay_{k}_s") for k in ("median", "p25", "p75")}
    out = pl.concat(counted).select(
        "user_id", pl.col("steps").list.get(0).alias("a"), pl.col("steps").list.get(1).alias("b"),
        pl.col("windows_s").list.first().alias("window_s"), "support", "confidence", "lift",
        first["median"], first["p25"], first["p75"], "days", "last_seen",
        "steps", pl.col("steps").list.len().alias("n_steps"), "windows_s", "prefix_support", "conviction", "backward",
        "delays_median_s", "delays_p25_s", "delays_p75_s", "extensions",
        *[c for c in ("delays_p90_s", "first_seen", "examples", "base") if c in levels[0].columns],
    )  # fmt: skip
    return _sort(out)


def _sort(found: pl.DataFrame) -> pl.DataFrame:
    """The report's order, total within a user: a longer chain as frequent and confident as its prefix comes
    first (it says more)."""
    return found.sort(
        "user_id",
        "support",
        "confidence",
        "a",
        "b",
        "n_steps",
        pl.col("steps").list.join(" "),
        descending=[False, True, True, False, False, True, False],
    )


def json_safe(found: pl.DataFrame) -> pl.DataFrame:
    """Workflows ready for JSON: user ids as text, and ``None`` for the infinite conviction of a step never missed."""
    finite = pl.when(pl.col("conviction").is_finite()).then(pl.col("conviction"))
    return found.with_columns(pl.col("user_id").cast(pl.String), finite.alias("conviction"))
