"""Co-change: which other items usually change with these ones (ROSE-style rules, made stronger).

Against the pairwise baseline this model (1) weighs each train transaction by its recency, (2) combines the
evidence of every query item with a noisy-OR instead of keeping the best single rule, (3) uses two-item
antecedents ({a, b} → c, the multi-antecedent rules that FP-growth finds) when the query has them, and
(4) keeps rules seen once, with their confidence shrunk towards zero by a smoothing count.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

Key = tuple[str, ...]


@dataclass
class CoChangeModel:
    """Recency-weighted association rules with one- and two-item antecedents, combined by noisy-OR."""

    half_life: float | None = 100.0  # in transactions; None: no decay
    min_support: int = 1  # transactions holding antecedent and consequent
    smoothing: float = 1.0  # added to the antecedent's weight: confidence of a rule seen once stays low
    pair_antecedents: bool = True
    max_pair_items: int = 12  # two-item antecedents only from transactions this small (bounded work)
    weight: dict[Key, float] = field(default_factory=dict)  # decayed weight of each itemset
    support: dict[Key, int] = field(default_factory=dict)  # plain count of each itemset
    _neighbours: dict[str, set[str]] = field(default_factory=dict, repr=False)

    def fit(self, transactions: Iterable[tuple[int, list[str]]]) -> CoChangeModel:
        """Count itemsets of size 1-2 (and 3 if ``pair_antecedents``) in ``(time index, items)`` transactions."""
        transactions = list(transactions)
        now = max((t for t, _ in transactions), default=0) + 1
        weight: dict[Key, float] = defaultdict(float)
        support: dict[Key, int] = defaultdict(int)
        for when, items in transactions:
            w = 1.0 if self.half_life is None else 0.5 ** ((now - when) / self.half_life)
            items = sorted(set(items))
            sizes = (1, 2, 3) if self.pair_antecedents and len(items) <= self.max_pair_items else (1, 2)
            for size in sizes:
                for itemset in combinations(items, size):
                    weight[itemset] += w
                    support[itemset] += 1
        self.weight, self.support = dict(weight), dict(support)
        self._index_neighbours()
        return self

    def _index_neighbours(self) -> None:
        self._neighbours = {}
        for itemset in self.support:
            if len(itemset) == 2:
                self._neighbours.setdefault(itemset[0], set()).add(itemset[1])
                self._neighbours.setdefault(itemset[1], set()).add(itemset[0])

    def config(self) -> dict[str, Any]:
        """The hyper-parameters, as given to the constructor."""
        return {k: getattr(self, k) for k in ("half_life", "min_support", "smoothing", "pair_antecedents")}

    def _confidence(self, antecedent: Key, consequent: str) -> float:
        both = tuple(sorted((*antecedent, consequent)))
        if self.support.get(both, 0) < self.min_support:
            return 0.0
        return self.weight[both] / (self.weight.get(antecedent, 0.0) + self.smoothing)

    def scores(self, query: list[str]) -> dict[str, float]:
        """Noisy-OR of the confidences of every rule from the query's items (and pairs) to each candidate."""
        given = sorted(set(query))
        miss: dict[str, float] = defaultdict(lambda: 1.0)
        antecedents: list[Key] = [(a,) for a in given]
        if self.pair_antecedents:
            antecedents += [p for p in combinations(given, 2) if p in self.support]
        for ante in antecedents:
            for c in set.intersection(*(self._neighbours.get(a, set()) for a in ante)) - set(given):
                conf = self._confidence(ante, c)
                if conf > 0:
                    miss[c] *= 1 - min(conf, 1.0)
        return {c: 1 - m for c, m in miss.items()}

    def rank(self, query: list[str]) -> list[str]:
        """Candidates, most likely first (ties by name)."""
        scores = self.scores(query)
        return sorted(scores, key=lambda c: (-round(scores[c], 12), c))


def cochange_to_json(model: CoChangeModel) -> dict[str, Any]:
    """A plain JSON form of a fitted model (what MLflow stores as its artifact)."""
    itemsets = [[list(k), model.weight[k], model.support[k]] for k in model.support]
    return {"config": {**model.config(), "max_pair_items": model.max_pair_items}, "itemsets": itemsets}


def cochange_from_json(data: dict[str, Any]) -> CoChangeModel:
    """The model that ``cochange_to_json`` wrote."""
    model = CoChangeModel(**data["config"])
    model.weight = {tuple(k): w for k, w, _ in data["itemsets"]}
    model.support = {tuple(k): s for k, _, s in data["itemsets"]}
    model._index_neighbours()
    return model
