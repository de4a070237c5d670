"""The reference baselines of ``docs/data.md``: most popular, first-order Markov, pairwise co-change.

Ties keep the order in which items were first counted (``Counter.most_common``) for next items, and the
alphabetical order for co-change candidates: that is how the README's reference figures were computed. Each is
counted on columns (``Steps``, ``Itemsets``): a window of millions of events never becomes millions of objects.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import polars as pl

from models.cochange import Itemsets
from models.protocol import Baskets, Split, Step, Steps


def _chain(*lists: Iterable[str]) -> list[str]:
    """Concatenate rankings, each item once, first place wins."""
    return list(dict.fromkeys(item for ranking in lists for item in ranking))


def _ranked(frame: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """``keys, ranking``: per key, the items of ``frame`` (rows in counting order) by count, ties by first seen."""
    counted = (
        frame.with_row_index("_k")
        .group_by(*keys, "item")
        .agg(pl.len().alias("_n"), pl.col("_k").min())
        .sort("_n", "_k", descending=[True, False])
    )
    return counted.group_by(keys, maintain_order=True).agg(pl.col("item").alias("ranking"))


def _popularity(items: pl.Series) -> list[str]:
    """Items by count, ties by first seen."""
    if items.is_empty():
        return []
    ranked: list[str] = _ranked(pl.DataFrame({"item": items, "_all": 0}), ["_all"])["ranking"][0].to_list()
    return ranked


class MostPopular:
    """Global popularity of items on train."""

    def __init__(self, items: pl.Series | Iterable[str]) -> None:
        column = items if isinstance(items, pl.Series) else pl.Series("item", list(items), dtype=pl.String)
        self.ranking = _popularity(column)

    @classmethod
    def of_train(cls, split: Split) -> MostPopular:
        """Popularity of the items of a split's train transactions (the README's ``mostpop``)."""
        return cls(split.events.filter(pl.col("g") < split.n_train).sort("g", "row")["item"])

    def rank(self, step: Step) -> list[str]:
        """Items by popularity, whatever the context."""
        return self.ranking


class Markov1:
    """P(next | previous) on train transitions, then popularity; ``per_user`` puts the user's own first."""

    def __init__(self, steps: Steps | Iterable[Step], popular: MostPopular, *, per_user: bool = False) -> None:
        frame = (steps if isinstance(steps, Steps) else Steps.of(steps)).frame.select(
            pl.col("user").cast(pl.String), pl.col("prev").cast(pl.String), pl.col("item").cast(pl.String)
        )
        self.popular = popular
        self.per_user = per_user
        self.global_next: dict[str, list[str]] = dict(_ranked(frame, ["prev"]).iter_rows())
        self.user_next: dict[tuple[str, str], list[str]] = (
            {(u, p): r for u, p, r in _ranked(frame, ["user", "prev"]).iter_rows()} if per_user else {}
        )

    def rank(self, step: Step) -> list[str]:
        """The user's transitions (if ``per_user``), then everyone's, then popularity."""
        own = self.user_next.get((step.user, step.prev), []) if self.per_user else []
        return _chain(own, self.global_next.get(step.prev, []), self.popular.ranking)


class PairwiseRules:
    """Rules a→c between items changed together in at least ``min_support`` train transactions."""

    def __init__(self, transactions: Baskets | Iterable[Sequence[str]], *, min_support: int = 2) -> None:
        given = transactions if isinstance(transactions, Baskets) else [list(t) for t in transactions]
        sets = Itemsets.count(given, max_pair_items=0)  # pairs only
        single = np.bincount(sets.single_item, minlength=len(sets.names))
        support = np.bincount(sets.pair_of, minlength=len(sets.pairs))
        keep = np.flatnonzero(support >= min_support)
        names = np.array(sets.names, dtype=object)
        self.rules: dict[str, dict[str, tuple[float, int]]] = {}
        a, c, s = sets.pairs[keep, 0], sets.pairs[keep, 1], support[keep]
        for x, y, n, nx, ny in zip(
            names[a].tolist(), names[c].tolist(), s.tolist(), single[a].tolist(), single[c].tolist(), strict=True
        ):
            self.rules.setdefault(x, {})[y] = (n / nx, n)
            self.rules.setdefault(y, {})[x] = (n / ny, n)

    def rank(self, query: list[str]) -> list[str]:
        """Candidates by their best confidence from any query item, ties by support, then by name."""
        given = set(query)
        best: dict[str, tuple[float, int]] = {}
        for a in query:
            for c, score in self.rules.get(a, {}).items():
                if c not in given and score > best.get(c, (-1.0, 0)):
                    best[c] = score
        return sorted(best, key=lambda c: (-best[c][0], -best[c][1], c))
