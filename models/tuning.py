"""Honest model selection: pick hyper-parameters on the last part of the train window, never on the test."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise, product
from typing import Any, TypeVar

import numpy as np
import polars as pl

from models.cochange import CoChangeModel, Itemsets
from models.next_action import NextActionModel, Transitions
from models.next_action_ranker import Candidates, NextActionRanker, candidates, fit_classifier
from models.protocol import Baskets, Step, Steps, hit_metrics

VALIDATION_FRAC = 0.2
TUNING_MAX_QUERIES = 20_000  # validation steps each grid configuration is scored on (evenly spaced)
# next-action re-ranker: steps per chunk of the train window (training rows: up to ``TOP_K`` per step; validation
# queries), so the classifier costs the same at 2M events as at 200k; the re-ranker is kept only if its validation
# MRR beats the Markov's by more than the margin (set before any result was seen; its value is argued in
# docs/models.md)
RANKER_CHUNK_STEPS = 4_000
RANKER_TRAIN_FOLDS = 3  # chunks of the train window the classifier learns from
RANKER_MARGIN = 0.002
T = TypeVar("T")

NEXT_ACTION_GRID: list[dict[str, Any]] = [
    {"half_life": hl, "weights": {**w, "pop": 0.01}}
    for hl, w in product(
        (None, 2000.0, 500.0),
        ({"global": 1.0}, {"global": 1.0, "dir": 1.0}, {"global": 1.0, "user": 1.0},
         {"global": 1.0, "user": 1.0, "dir": 1.0}, {"global": 1.0, "order2": 0.5}),
    )
]  # fmt: skip
COCHANGE_GRID: list[dict[str, Any]] = [
    {"half_life": hl, "min_support": ms, "smoothing": sm, "pair_antecedents": pa}
    for hl, ms, sm, pa in product((None, 300.0, 100.0), (1, 2), (0.0, 1.0), (False, True))
]


def _best(configs: Sequence[dict[str, Any]], score: Callable[[dict[str, Any]], float]) -> tuple[dict[str, Any], float]:
    """The config with the highest score; the earliest (simplest) wins ties."""
    scored = [(score(c), i) for i, c in enumerate(configs)]
    value, index = max(scored, key=lambda s: (s[0], -s[1]))
    return configs[index], value


def tune_next_action(
    steps: Steps | Transitions,
    *,
    window: int | None = None,
    grid: Sequence[dict[str, Any]] = NEXT_ACTION_GRID,
) -> dict[str, Any]:
    """The Markov config with the best validation MRR on the train window's tail (the caller fits it on all).

    ``window`` is the number of transactions in the train window (default: the last one seen + 1).
    """
    counted = steps if isinstance(steps, Transitions) else Transitions(steps)
    cut = _cut(counted.when, window)
    held = counted.steps.where(pl.col("when") >= cut).evenly_spaced(TUNING_MAX_QUERIES)

    def score(config: dict[str, Any]) -> float:
        model = NextActionModel(**config).fit(counted, before=cut)
        return hit_metrics((model.rank(s) for s in held), (s.item for s in held))["mrr"]

    config, _ = _best(grid, score) if held and (counted.when < cut).any() else (grid[0], 0.0)
    return config


@dataclass(frozen=True)
class NextActionChoice:
    """The next-action model that was kept, and the validation MRR of each contender."""

    model: NextActionModel | NextActionRanker
    kept: str  # "markov" or "ranker"
    validation: dict[str, float]  # "markov", and "ranker" when one could be trained


def select_next_action(
    steps: Steps | Iterable[Step], *, window: int | None = None, grid: Sequence[dict[str, Any]] = NEXT_ACTION_GRID
) -> NextActionChoice:
    """The tuned Markov, or the re-ranker over it when it wins on the train window's tail by ``RANKER_MARGIN``.

    Rolling origin, in time order: the train window is cut into chunks of ``VALIDATION_FRAC``; the classifier's
    rows on each chunk come from a Markov fitted on every step before that chunk. Trained on the chunks before the
    tail, the re-ranker and the Markov alone (fitted on everything before the tail) are scored on the tail. When
    the re-ranker is kept, the classifier is trained again with the tail as one more chunk (same procedure, one
    chunk further) and the Markov is refitted on every train step.
    """
    counted = Transitions(steps)  # the steps' cells are found once for the grid, the folds and the final fit
    config = tune_next_action(counted, window=window, grid=grid)
    n = window if window is not None else int(counted.when.max(initial=-1)) + 1
    bounds = [round(n * VALIDATION_FRAC * i) for i in range(round(1 / VALIDATION_FRAC) + 1)]
    folds = [_fold(counted, config, lo, hi, RANKER_CHUNK_STEPS) for lo, hi in pairwise(bounds[1:])]
    folds = folds[-RANKER_TRAIN_FOLDS - 1 :]
    held, held_steps = folds[-1]
    classifier = fit_classifier(folds[:-1])
    truth = [s.item for s in held_steps]
    scores = {"markov": hit_metrics(held.ranked, truth)["mrr"]}
    if classifier is not None and held_steps:
        scores["ranker"] = hit_metrics(held.rerank(classifier), truth)["mrr"]
    if scores.get("ranker", -1.0) <= scores["markov"] + RANKER_MARGIN:
        return NextActionChoice(NextActionModel(**config).fit(counted), "markov", scores)
    final = NextActionModel(**config).fit(counted, every_family=True)  # one fit on every train step either way
    return NextActionChoice(NextActionRanker(final, fit_classifier(folds[-RANKER_TRAIN_FOLDS:])), "ranker", scores)


def _fold(counted: Transitions, config: dict[str, Any], lo: int, hi: int, cap: int) -> tuple[Candidates, list[Step]]:
    """At most ``cap`` steps of ``[lo, hi)`` and their candidates from a Markov fitted on every step before ``lo``."""
    before = NextActionModel(**config).fit(counted, every_family=True, before=lo)
    chunk = counted.steps.where(pl.col("when").is_between(lo, hi, closed="left")).evenly_spaced(cap)
    return candidates(before, chunk), chunk


def evenly_spaced(items: Sequence[T], n: int) -> list[T]:
    """At most ``n`` of ``items``, evenly spaced (all of them when there are fewer): bounds the cost at scale."""
    return list(items) if len(items) <= n else [items[i * len(items) // n] for i in range(n)]


def tune_cochange(
    transactions: Baskets | Sequence[tuple[int, list[str]]],
    *,
    window: int | None = None,
    grid: Sequence[dict[str, Any]] = COCHANGE_GRID,
    max_queries: int | None = None,
) -> CoChangeModel:
    """Choose the co-change config with the best validation MRR (hide-one-item queries, the first ``max_queries``
    when given: scoring a query costs milliseconds when it holds items with many neighbours), then refit on all."""
    baskets = transactions if isinstance(transactions, Baskets) else Baskets.of(transactions)
    cut = _cut(baskets.frame["when"].to_numpy(), window)
    inner = baskets.where(pl.col("when") < cut)
    tail = baskets.where((pl.col("when") >= cut) & (pl.col("items").list.len() >= 2))
    if max_queries is not None:  # the baskets the first queries come from, not the whole tail
        tail = tail.where(pl.col("items").list.len().cum_sum().shift(1, fill_value=0) < max_queries)
    queries = [([x for x in items if x != hidden], hidden) for _, items in tail for hidden in items][:max_queries]

    config = _best_cochange(inner, queries, grid) if queries and len(inner) else grid[0]
    return CoChangeModel(**config).fit(baskets)


def _best_cochange(
    inner: Baskets, queries: list[tuple[list[str], str]], grid: Sequence[dict[str, Any]]
) -> dict[str, Any]:
    """The config with the best MRR on ``queries`` when fitted on ``inner`` (its counts are freed on return,
    before the final fit makes its own)."""
    sets = Itemsets.count(inner, max_pair_items=CoChangeModel.max_pair_items)
    when = inner.frame["when"].to_numpy().astype(np.float64)
    # the counts depend on the half-life only: weighed once per half-life, and only the latest is kept (the grid
    # varies the half-life slowest; each weighed copy holds every distinct itemset: hundreds of MB on a big lake)
    counted: dict[float | None, CoChangeModel] = {}

    def score(config: dict[str, Any]) -> float:
        half_life = config.get("half_life")
        if half_life not in counted:
            counted.clear()
            counted[half_life] = CoChangeModel(half_life=half_life).fit_counted(sets, when)
        model = counted[half_life].with_params(**config)
        return sum(1 / p for q, h in queries if (p := model.position(q, h))) / len(queries)  # MRR

    return _best(grid, score)[0]


def _cut(times: np.ndarray, window: int | None) -> int:
    """The first time index of the validation tail of a train window of ``window`` transactions."""
    n = window if window is not None else int(np.max(times, initial=-1)) + 1
    return round(n * (1 - VALIDATION_FRAC))
