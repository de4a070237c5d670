"""The object-per-event implementation that ``floyo train`` used before the columnar one (issue 16), kept only as
the reference the comparison test checks the columnar code against: the split, the steps, the co-change
transactions, the Markov's counting loop, the tuning and the baselines, as they were, over Python objects."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import combinations, pairwise
from typing import Any

import numpy as np
import polars as pl

from models.cochange import CoChangeModel, Itemsets, cochange_to_json
from models.next_action import CONTEXTS, NextActionModel
from models.next_action_ranker import NextActionRanker, candidates, fit_classifier, model_to_json
from models.protocol import HISTORY, Step, hit_metrics, item_of, recall_metrics, transaction_items
from models.pyfunc import cochange_input, next_action_input
from models.steps import top_dir
from models.tuning import (
    COCHANGE_GRID,
    NEXT_ACTION_GRID,
    RANKER_CHUNK_STEPS,
    RANKER_MARGIN,
    RANKER_TRAIN_FOLDS,
    TUNING_MAX_QUERIES,
    VALIDATION_FRAC,
    evenly_spaced,
)  # fmt: skip

MAX_TRANSACTION = 30


@dataclass(frozen=True)
class Split:
    groups: list[str]
    n_train: int
    rows: dict[str, list[dict[str, Any]]]
    users: dict[str, list[dict[str, Any]]]

    @property
    def train(self) -> list[str]:
        return self.groups[: self.n_train]

    @property
    def test(self) -> list[str]:
        return self.groups[self.n_train :]


def time_split(events: pl.DataFrame, *, test_frac: float = 0.2) -> Split:
    rows = events.select(
        pl.col("user_id").cast(pl.String), pl.col("ts").cast(pl.String), "path", "ext", pl.col("group").cast(pl.String),
        (pl.col("ts").dt.epoch("ms") / 1000).alias("t"),
    ).to_dicts()  # fmt: skip
    by_group: dict[str, list[dict[str, Any]]] = defaultdict(list)
    by_user: dict[str, list[dict[str, Any]]] = defaultdict(list)
    first: dict[str, tuple[str, int]] = {}
    for i, row in enumerate(rows):
        first.setdefault(row["group"], (row["ts"], i))
        by_group[row["group"]].append(row)
        by_user[row["user_id"]].append(row)
    groups = sorted(first, key=first.__getitem__)
    return Split(groups, round(len(groups) * (1 - test_frac)), dict(by_group), dict(by_user))


def next_item_steps(split: Split) -> tuple[list[Step], list[Step]]:
    position = {g: i for i, g in enumerate(split.groups)}
    train: list[Step] = []
    queries: list[Step] = []
    for user, seq in split.users.items():
        items = [item_of(r) for r in seq]
        for i in range(1, len(seq)):
            prev, row = seq[i - 1], seq[i]
            prev2 = items[i - 2] if i >= 2 else None
            when = position[row["group"]]
            gap = prev["t"] - seq[i - 2]["t"] if i >= 2 else None
            history = tuple(items[max(0, i - HISTORY) : i])
            step = Step(user, items[i - 1], top_dir(prev["path"]), prev2, items[i], when, history, prev["t"], gap)
            (train if when < split.n_train else queries).append(step)
    return train, queries


def cochange_data(split: Split, level: str) -> tuple[list[tuple[int, list[str]]], list[tuple[list[str], str]]]:
    train = [
        (i, transaction_items(split.rows[g], level))
        for i, g in enumerate(split.train)
        if len(split.rows[g]) <= MAX_TRANSACTION
    ]
    queries = []
    for g in split.test:
        if not 2 <= len(split.rows[g]) <= MAX_TRANSACTION:
            continue
        items = transaction_items(split.rows[g], level)
        if len(items) < 2:
            continue
        queries += [([x for x in items if x != hidden], hidden) for hidden in items]
    return train, queries


def fit_markov(model: NextActionModel, steps: Iterable[Step], *, every_family: bool = False) -> NextActionModel:
    steps = list(steps)
    now = max((s.when for s in steps), default=0) + 1
    active = {name: key for name, key in CONTEXTS.items() if every_family or model.weights.get(name, 0) > 0}
    counts: dict[str, Any] = {n: defaultdict(lambda: defaultdict(float)) for n in active}
    for s in steps:
        w = 1.0 if model.half_life is None else 0.5 ** ((now - s.when) / model.half_life)
        for name, key in active.items():
            ctx = key(s)
            if None not in ctx:
                counts[name][ctx][s.item] += w
    model.counts = {n: {ctx: dict(c) for ctx, c in table.items()} for n, table in counts.items()}
    return model


def _best(configs: Sequence[dict[str, Any]], score: Any) -> dict[str, Any]:
    scored = [(score(c), i) for i, c in enumerate(configs)]
    _, index = max(scored, key=lambda s: (s[0], -s[1]))
    return configs[index]


def _cut(times: Iterable[int], window: int | None) -> int:
    n = window if window is not None else max(times, default=-1) + 1
    return round(n * (1 - VALIDATION_FRAC))


def select_next_action(steps: Sequence[Step], window: int) -> tuple[Any, str, dict[str, float]]:
    cut = _cut((s.when for s in steps), window)
    inner = [s for s in steps if s.when < cut]
    held_tune = evenly_spaced([s for s in steps if s.when >= cut], TUNING_MAX_QUERIES)

    def score(config: dict[str, Any]) -> float:
        model = fit_markov(NextActionModel(**config), inner)
        return hit_metrics((model.rank(s) for s in held_tune), (s.item for s in held_tune))["mrr"]

    config = _best(NEXT_ACTION_GRID, score) if held_tune and inner else NEXT_ACTION_GRID[0]
    bounds = [round(window * VALIDATION_FRAC * i) for i in range(round(1 / VALIDATION_FRAC) + 1)]
    folds = []
    for lo, hi in pairwise(bounds[1:]):
        before = fit_markov(NextActionModel(**config), [s for s in steps if s.when < lo], every_family=True)
        chunk = evenly_spaced([s for s in steps if lo <= s.when < hi], RANKER_CHUNK_STEPS)
        folds.append((candidates(before, chunk), chunk))
    folds = folds[-RANKER_TRAIN_FOLDS - 1 :]
    held, held_steps = folds[-1]
    classifier = fit_classifier(folds[:-1])
    truth = [s.item for s in held_steps]
    scores = {"markov": hit_metrics(held.ranked, truth)["mrr"]}
    if classifier is not None and held_steps:
        scores["ranker"] = hit_metrics(held.rerank(classifier), truth)["mrr"]
    if scores.get("ranker", -1.0) <= scores["markov"] + RANKER_MARGIN:
        return fit_markov(NextActionModel(**config), steps), "markov", scores
    final = fit_markov(NextActionModel(**config), steps, every_family=True)
    return NextActionRanker(final, fit_classifier(folds[-RANKER_TRAIN_FOLDS:])), "ranker", scores


def _rows_of(transactions: Sequence[Sequence[str]]) -> list[list[int]]:
    names = sorted({x for items in transactions for x in items})
    code = {name: i for i, name in enumerate(names)}
    return [sorted({code[x] for x in items}) for items in transactions]


def count_itemsets(transactions: Sequence[Sequence[str]], *, max_pair_items: int) -> Itemsets:
    names = sorted({x for items in transactions for x in items})
    rows = _rows_of(transactions)
    n = max(len(names), 1)
    single_tx = np.repeat(np.arange(len(rows)), [len(r) for r in rows]).astype(np.int64)
    single_item = np.fromiter((x for r in rows for x in r), dtype=np.int64, count=len(single_tx))
    pair_tx, pair_a, pair_b = _combos(rows, 2, max_len=None)
    pair_keys, pair_of = np.unique(pair_a * n + pair_b, return_inverse=True)
    pairs = np.column_stack([pair_keys // n, pair_keys % n]).astype(np.int64)
    t_tx, a, b, c = _combos(rows, 3, max_len=max_pair_items)
    ante = [(a, b, c), (a, c, b), (b, c, a)]
    pair_index = [np.searchsorted(pair_keys, x * n + y) for x, y, _ in ante]
    keys = np.concatenate([p * n + z for p, (_, _, z) in zip(pair_index, ante, strict=True)])
    triple_keys, triple_of = np.unique(keys, return_inverse=True)
    return Itemsets(
        names, single_tx, single_item, pairs, pair_tx, pair_of.astype(np.int64),
        (triple_keys // n).astype(np.int64), (triple_keys % n).astype(np.int64), np.tile(t_tx, 3),
        triple_of.astype(np.int64),
    )  # fmt: skip


def _combos(rows: list[list[int]], size: int, *, max_len: int | None) -> tuple[np.ndarray, ...]:
    by_len: dict[int, list[int]] = {}
    for i, r in enumerate(rows):
        if len(r) >= size and (max_len is None or len(r) <= max_len):
            by_len.setdefault(len(r), []).append(i)
    parts: list[list[np.ndarray]] = [[] for _ in range(size + 1)]
    for length, tx in by_len.items():
        matrix = np.array([rows[i] for i in tx], dtype=np.int64)
        index = np.array(list(combinations(range(length), size)), dtype=np.int64)
        chosen = matrix[:, index]
        parts[0].append(np.repeat(np.array(tx, dtype=np.int64), len(index)))
        for k in range(size):
            parts[k + 1].append(chosen[:, :, k].ravel())
    return tuple(np.concatenate(p) if p else np.zeros(0, dtype=np.int64) for p in parts)


def fit_cochange(config: dict[str, Any], transactions: Sequence[tuple[int, list[str]]]) -> CoChangeModel:
    model = CoChangeModel(**config)
    sets = count_itemsets([items for _, items in transactions], max_pair_items=model.max_pair_items)
    return model.fit_counted(sets, np.array([t for t, _ in transactions], dtype=np.float64))


def tune_cochange(transactions: Sequence[tuple[int, list[str]]], window: int, max_queries: int) -> CoChangeModel:
    cut = _cut((t for t, _ in transactions), window)
    inner = [t for t in transactions if t[0] < cut]
    queries = [
        ([x for x in items if x != hidden], hidden)
        for when, items in transactions
        if when >= cut and len(items) >= 2
        for hidden in items
    ][:max_queries]
    sets = count_itemsets([items for _, items in inner], max_pair_items=CoChangeModel.max_pair_items)
    when = np.array([t for t, _ in inner], dtype=np.float64)
    counted: dict[float | None, CoChangeModel] = {}

    def score(config: dict[str, Any]) -> float:
        half_life = config.get("half_life")
        if half_life not in counted:
            counted[half_life] = CoChangeModel(half_life=half_life).fit_counted(sets, when)
        model = counted[half_life].with_params(**config)
        return sum(1 / p for q, h in queries if (p := model.position(q, h))) / len(queries)

    config = _best(COCHANGE_GRID, score) if queries and inner else COCHANGE_GRID[0]
    return fit_cochange(config, transactions)


def _ranked(counts: Counter[str]) -> list[str]:
    return [item for item, _ in counts.most_common()]


def markov1_rank(steps: Sequence[Step], popular: list[str]) -> Any:
    following: dict[str, Counter[str]] = defaultdict(Counter)
    for s in steps:
        following[s.prev][s.item] += 1
    return lambda q: list(dict.fromkeys([*_ranked(following.get(q.prev, Counter())), *popular]))


def pairwise_rank(transactions: Iterable[list[str]]) -> Any:
    single: Counter[str] = Counter()
    pair: Counter[tuple[str, str]] = Counter()
    for items in transactions:
        single.update(items)
        for a, c in combinations(items, 2):
            pair[a, c] += 1
            pair[c, a] += 1
    rules: dict[str, dict[str, tuple[float, int]]] = defaultdict(dict)
    for (a, c), support in pair.items():
        if support >= 2:
            rules[a][c] = (support / single[a], support)

    def rank(query: list[str]) -> list[str]:
        best: dict[str, tuple[float, int]] = {}
        for a in query:
            for c, score in rules.get(a, {}).items():
                if c not in query and score > best.get(c, (-1.0, 0)):
                    best[c] = score
        return sorted(best, key=lambda c: (-best[c][0], -best[c][1], c))

    return rank


def window_of(split: Split, source: str) -> dict[str, Any]:
    first = {g: split.rows[g][0]["ts"] for g in (split.groups[0], split.groups[-1])}
    return {
        "source": source,
        "train_start": first[split.groups[0]], "train_end": split.rows[split.train[-1]][-1]["ts"],
        "test_start": split.rows[split.test[0]][0]["ts"], "test_end": split.rows[split.groups[-1]][-1]["ts"],
        "transactions": len(split.groups), "train_transactions_all": split.n_train,
        "events": sum(len(rows) for rows in split.rows.values()),
    }  # fmt: skip


def reference_fits(events: pl.DataFrame, source: str, *, max_steps: int, max_cochange: int) -> dict[str, Any]:
    """What ``models.train.fit_next_action`` and ``fit_cochange`` gave before: artifact, params, data, ranked,
    truth, model input and extra metrics of each."""
    split = time_split(events)
    window = window_of(split, source)
    steps, queries = next_item_steps(split)
    queries = evenly_spaced(queries, max_steps)
    model, kept, validation = select_next_action(steps, split.n_train)
    popular = _ranked(Counter(item_of(r) for g in split.train for r in split.rows[g]))
    truth = [q.item for q in queries]
    extra = {f"validation_mrr_{name}": mrr for name, mrr in validation.items()}
    for name, rank in (("mostpop", lambda q: popular), ("markov1", markov1_rank(steps, popular))):
        scores = hit_metrics([rank(q) for q in queries], truth)
        extra |= {f"baseline_{name}_{k}": scores[k] for k in ("hr1", "hr3", "hr5", "mrr")}
    next_action = {
        "artifact": model_to_json(model), "params": {"model": kept, **model.config()},
        "data": {**window, "train_steps": len(steps), "test_queries": len(queries)},
        "ranked": model.rank_many(queries), "truth": truth, "model_input": next_action_input(queries), "extra": extra,
    }  # fmt: skip
    transactions, co_queries = cochange_data(split, "path")
    co_queries = co_queries[:max_cochange]
    co_model = tune_cochange(transactions, split.n_train, max_queries=1000)
    pairwise_baseline = pairwise_rank(t for _, t in transactions)
    baseline = recall_metrics([pairwise_baseline(q) for q, _ in co_queries], [h for _, h in co_queries])
    cochange = {
        "artifact": cochange_to_json(co_model), "params": co_model.config(),
        "data": {**window, "train_transactions": len(transactions), "test_queries": len(co_queries)},
        "ranked": [co_model.rank(q) for q, _ in co_queries], "truth": [h for _, h in co_queries],
        "model_input": cochange_input([q for q, _ in co_queries]),
        "extra": {f"baseline_pairwise_{k}": baseline[k] for k in ("r1", "r5", "r10", "mrr")},
    }  # fmt: skip
    return {"next_action": next_action, "cochange": cochange}
