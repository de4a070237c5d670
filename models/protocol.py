"""The evaluation protocol of ``docs/data.md``: a time split by transaction, queries and metrics.

Plain inputs: a polars frame of events in file order with ``user_id, ts, path, ext, group`` (``group`` is the
commit for a version-control log, the session for Floyo's own events).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import polars as pl

from models.steps import HISTORY, NO_EXT, Step, Steps

__all__ = ["HISTORY", "NO_EXT", "Baskets", "Split", "Step", "Steps", "cochange_data", "hit_metrics",
           "next_item_steps", "recall_metrics", "time_split"]  # fmt: skip
MAX_TRANSACTION = 30  # larger commits/sessions are bulk edits: skipped for mining and queries


@dataclass(frozen=True)
class Baskets:
    """Transactions as a frame: ``when`` (the transaction's time index) and ``items`` (distinct, file order)."""

    frame: pl.DataFrame

    @classmethod
    def of(cls, transactions: Iterable[tuple[int, Sequence[str]]]) -> Baskets:
        """Baskets of plain ``(time index, items)`` pairs."""
        pairs = list(transactions)
        return cls(pl.DataFrame({"when": [w for w, _ in pairs], "items": [list(i) for _, i in pairs]},
                                schema={"when": pl.Int64, "items": pl.List(pl.String)}))  # fmt: skip

    def __len__(self) -> int:
        return self.frame.height

    def __iter__(self) -> Iterator[tuple[int, list[str]]]:
        """``(time index, items)`` pairs (small data: tests)."""
        return iter(zip(self.frame["when"].to_list(), self.frame["items"].to_list(), strict=True))

    def where(self, condition: pl.Expr) -> Baskets:
        """The baskets that meet ``condition`` (over ``when`` and ``items``), in the same order."""
        return Baskets(self.frame.filter(condition))


@dataclass(frozen=True)
class Split:
    """Transactions ordered by their first event; the first ``n_train`` are train. Columnar: ``events`` holds one
    row per event in file order (``row``) with ``user, ts, t`` (epoch seconds), ``path``, ``item`` and ``g``, the
    index of its transaction in time order; ``heads`` one row per transaction in that order (``group``, ``first``
    and ``last`` row, ``n`` rows)."""

    events: pl.DataFrame
    heads: pl.DataFrame
    n_train: int

    @property
    def groups(self) -> list[str]:
        """Every transaction's name, oldest first (small data: tests, reports)."""
        return self.heads["group"].to_list()

    @property
    def train(self) -> list[str]:
        """Train transactions, oldest first."""
        return self.groups[: self.n_train]

    @property
    def test(self) -> list[str]:
        """Test transactions, oldest first."""
        return self.groups[self.n_train :]

    def ts_of(self, row: int) -> datetime:
        """The time of the event at file position ``row``."""
        ts: datetime = self.events["ts"][row]
        return ts


def item_of(row: dict[str, Any]) -> str:
    """The extension of a row as the protocol writes it (``''`` becomes ``(none)``)."""
    return row["ext"] or NO_EXT


def item_expr() -> pl.Expr:
    """``item_of`` over a frame's ``ext`` column."""
    return pl.when(pl.col("ext").is_null() | (pl.col("ext") == "")).then(pl.lit(NO_EXT)).otherwise(pl.col("ext"))


def time_split(events: pl.DataFrame, *, test_frac: float = 0.2) -> Split:
    """Order transactions by their first row's time (ties: file order) and keep the last ``test_frac`` as test."""
    if not 0 < test_frac < 1:
        raise ValueError("test_frac must be between 0 and 1")
    ev = events.select(
        pl.col("user_id").cast(pl.String).alias("user"), "ts", (pl.col("ts").dt.epoch("ms") / 1000).alias("t"),
        "path", item_expr().alias("item"), pl.col("group").cast(pl.String),
    ).with_row_index("row")  # fmt: skip
    heads = ev.group_by("group").agg(
        pl.col("row").min().alias("first"), pl.col("row").max().alias("last"), pl.len().alias("n")
    )
    # the first row's time, then file order: a µs timestamp in UTC sorts as its text did
    heads = (
        heads.with_columns(ev["ts"].gather(heads["first"]).alias("start"))
        .sort("start", "first")
        .drop("start")
        .with_row_index("g")
    )
    ev = ev.join(heads.select("group", "g"), on="group", how="left", maintain_order="left").drop("group")
    return Split(ev, heads, round(heads.height * (1 - test_frac)))


def next_item_steps(split: Split) -> tuple[Steps, Steps]:
    """Train transitions (the next event is in a train transaction) and test queries (it is in a test one)."""
    steps = Steps.of_events(split.events)
    return steps.where(pl.col("when") < split.n_train), steps.where(pl.col("when") >= split.n_train)


def transaction_items(rows: Sequence[dict[str, Any]], level: str) -> list[str]:
    """The distinct items of one transaction, in file order: its paths, or its extensions."""
    key = (lambda r: r["path"]) if level == "path" else item_of
    return list(dict.fromkeys(key(r) for r in rows))


def _baskets(split: Split, level: str) -> pl.DataFrame:
    """``when, n, items``: each transaction's index, rows and distinct items in file order."""
    column = "path" if level == "path" else "item"
    return (
        split.events.sort("g", "row")
        .group_by("g", maintain_order=True)
        .agg(pl.len().alias("n"), pl.col(column).unique(maintain_order=True).alias("items"))
        .rename({"g": "when"})
    )


def cochange_data(
    split: Split, level: str, *, max_queries: int | None = None
) -> tuple[Baskets, list[tuple[list[str], str]]]:
    """Train transactions (``Baskets``: time index, items) and queries ``(remaining items, hidden item)``, the
    first ``max_queries`` in time order when given."""
    baskets = _baskets(split, level)
    train = baskets.filter((pl.col("when") < split.n_train) & (pl.col("n") <= MAX_TRANSACTION))
    test = baskets.filter(
        (pl.col("when") >= split.n_train)
        & pl.col("n").is_between(2, MAX_TRANSACTION)
        & (pl.col("items").list.len() >= 2)
    )
    if max_queries is not None:  # enough transactions for the queries wanted, not every test one
        test = test.filter(pl.col("items").list.len().cum_sum().shift(1, fill_value=0) < max_queries)
    queries = [([x for x in items if x != hidden], hidden) for items in test["items"] for hidden in items]
    return Baskets(train.select("when", "items")), queries[:max_queries]


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
