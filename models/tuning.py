"""Honest model selection: pick hyper-parameters on the last part of the train window, never on the test."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from itertools import product
from typing import Any

from models.cochange import CoChangeModel
from models.next_action import NextActionModel
from models.protocol import Step, hit_metrics, recall_metrics

VALIDATION_FRAC = 0.2

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
    steps: Sequence[Step], *, window: int | None = None, grid: Sequence[dict[str, Any]] = NEXT_ACTION_GRID
) -> NextActionModel:
    """Choose the config with the best validation MRR on the train window's tail, then refit on all of it.

    ``window`` is the number of transactions in the train window (default: the last one seen + 1).
    """
    cut = _cut((s.when for s in steps), window)
    inner = [s for s in steps if s.when < cut]
    held = [s for s in steps if s.when >= cut]

    def score(config: dict[str, Any]) -> float:
        model = NextActionModel(**config).fit(inner)
        return hit_metrics((model.rank(s) for s in held), (s.item for s in held))["mrr"]

    config, _ = _best(grid, score) if held and inner else (grid[0], 0.0)
    return NextActionModel(**config).fit(steps)


def tune_cochange(
    transactions: Sequence[tuple[int, list[str]]],
    *,
    window: int | None = None,
    grid: Sequence[dict[str, Any]] = COCHANGE_GRID,
    max_queries: int | None = None,
) -> CoChangeModel:
    """Choose the co-change config with the best validation MRR (hide-one-item queries, the first ``max_queries``
    when given: scoring a query costs milliseconds when it holds items with many neighbours), then refit on all."""
    cut = _cut((t for t, _ in transactions), window)
    inner = [t for t in transactions if t[0] < cut]
    queries = [
        ([x for x in items if x != hidden], hidden)
        for when, items in transactions
        if when >= cut and len(items) >= 2
        for hidden in items
    ][:max_queries]

    def score(config: dict[str, Any]) -> float:
        model = CoChangeModel(**config).fit(inner)
        return recall_metrics((model.rank(q) for q, _ in queries), (h for _, h in queries))["mrr"]

    config, _ = _best(grid, score) if queries and inner else (grid[0], 0.0)
    return CoChangeModel(**config).fit(transactions)


def _cut(times: Iterable[int], window: int | None) -> int:
    """The first time index of the validation tail of a train window of ``window`` transactions."""
    n = window if window is not None else max(times, default=-1) + 1
    return round(n * (1 - VALIDATION_FRAC))
