"""The evaluation protocol of ``docs/data.md``: a time split by transaction, queries and metrics.

Plain inputs: a polars frame of events in file order with ``user_id, ts, path, ext, group`` (``group`` is the
commit for a version-control log, the session for Floyo's own events).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

NO_EXT = "(none)"
MAX_TRANSACTION = 30  # larger commits/sessions are bulk edits: skipped for mining and queries
HISTORY = 8  # items of recent history each step carries (features for a re-ranker)


@dataclass(frozen=True)
class Step:
    """One transition of a user's sequence: what came before and the item that followed."""

    user: str
    prev: str  # previous item (here: extension)
    prev_dir: str  # top folder of the previous path ('' at the root)
    prev2: str | None  # the item before ``prev``, when there is one
    item: str  # the item to predict
    when: int  # index of the item's transaction in time order (recency)
    history: tuple[str, ...] = ()  # the user's last items up to ``prev`` (at most ``HISTORY``), oldest first
    prev_ts: float | None = None  # when ``prev`` happened (seconds since the epoch)
    prev_gap_s: float | None = None  # seconds between the item before ``prev`` and ``prev``


@dataclass(frozen=True)
class Split:
    """Transactions ordered by their first event; the first ``n_train`` are train."""

    groups: list[str]
    n_train: int
    rows: dict[str, list[dict[str, Any]]]  # rows of each transaction, in file order (``t``: epoch seconds)
    users: dict[str, list[dict[str, Any]]]  # each user's rows, in file order

    @property
    def train(self) -> list[str]:
        """Train transactions, oldest first."""
        return self.groups[: self.n_train]

    @property
    def test(self) -> list[str]:
        """Test transactions, oldest first."""
        return self.groups[self.n_train :]


def item_of(row: dict[str, Any]) -> str:
    """The extension of a row as the protocol writes it (``''`` becomes ``(none)``)."""
    return row["ext"] or NO_EXT


def top_dir(path: str) -> str:
    """The first component of a relative path, ``''`` for a file at the root."""
    head, sep, _ = path.partition("/")
    return head if sep else ""


def time_split(events: pl.DataFrame, *, test_frac: float = 0.2) -> Split:
    """Order transactions by their first row's time (ties: file order) and keep the last ``test_frac`` as test."""
    if not 0 < test_frac < 1:
        raise ValueError("test_frac must be between 0 and 1")
    rows = events.select(
        "user_id", pl.col("ts").cast(pl.String), "path", "ext", "group", (pl.col("ts").dt.epoch("ms") / 1000).alias("t")
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
    """Train transitions (the next event is in a train transaction) and test queries (it is in a test one)."""
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


def transaction_items(rows: Sequence[dict[str, Any]], level: str) -> list[str]:
    """The distinct items of one transaction, in file order: its paths, or its extensions."""
    key = (lambda r: r["path"]) if level == "path" else item_of
    return list(dict.fromkeys(key(r) for r in rows))


def cochange_data(split: Split, level: str) -> tuple[list[tuple[int, list[str]]], list[tuple[list[str], str]]]:
    """Train transactions ``(time index, items)`` and queries ``(remaining items, hidden item)``."""
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


def _metrics(ranks: list[tuple[int, bool]], prefix: str, ks: tuple[int, ...]) -> dict[str, float]:
    return {f"{prefix}{k}": _share(ranks, k) for k in ks} | {
        "mrr": _mrr(ranks),
        "coverage": _coverage(ranks),
        "n": len(ranks),
    }


def hit_metrics(ranked: Iterable[Sequence[str]], truth: Iterable[str]) -> dict[str, float]:
    """Next-item metrics: ``hr1, hr3, hr5, mrr, coverage, n``."""
    return _metrics(_ranks(ranked, truth), "hr", (1, 3, 5))


def recall_metrics(ranked: Iterable[Sequence[str]], truth: Iterable[str]) -> dict[str, float]:
    """Co-change metrics: ``r1, r5, r10, mrr, coverage, n``."""
    return _metrics(_ranks(ranked, truth), "r", (1, 5, 10))


def _ranks(ranked: Iterable[Sequence[str]], truth: Iterable[str]) -> list[tuple[int, bool]]:
    """(1-based rank or 0 when absent, whether anything was suggested) per query."""
    out = []
    for suggestions, true in zip(ranked, truth, strict=True):
        rank = next((i + 1 for i, s in enumerate(suggestions) if s == true), 0)
        out.append((rank, len(suggestions) > 0))
    return out


def _share(ranks: list[tuple[int, bool]], k: int) -> float:
    return sum(0 < r <= k for r, _ in ranks) / len(ranks) if ranks else 0.0


def _mrr(ranks: list[tuple[int, bool]]) -> float:
    return sum(1 / r for r, _ in ranks if r) / len(ranks) if ranks else 0.0


def _coverage(ranks: list[tuple[int, bool]]) -> float:
    return sum(any_ for _, any_ in ranks) / len(ranks) if ranks else 0.0
