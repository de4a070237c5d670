"""The reference baselines of ``docs/data.md``: most popular, first-order Markov, pairwise co-change.

Ties keep the order in which items were first counted (``Counter.most_common``) for next items, and the
alphabetical order for co-change candidates: that is how the README's reference figures were computed.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from itertools import combinations

from models.protocol import Split, Step, item_of


def _ranked(counts: Counter[str]) -> list[str]:
    return [item for item, _ in counts.most_common()]


def _chain(*lists: Iterable[str]) -> list[str]:
    """Concatenate rankings, each item once, first place wins."""
    return list(dict.fromkeys(item for ranking in lists for item in ranking))


class MostPopular:
    """Global popularity of items on train."""

    def __init__(self, items: Iterable[str]) -> None:
        self.ranking = _ranked(Counter(items))

    @classmethod
    def of_train(cls, split: Split) -> MostPopular:
        """Popularity of the items of a split's train transactions (the README's ``mostpop``)."""
        return cls(item_of(r) for g in split.train for r in split.rows[g])

    def rank(self, step: Step) -> list[str]:
        """Items by popularity, whatever the context."""
        return self.ranking


class Markov1:
    """P(next | previous) on train transitions, then popularity; ``per_user`` puts the user's own first."""

    def __init__(self, steps: Iterable[Step], popular: MostPopular, *, per_user: bool = False) -> None:
        self.popular = popular
        self.per_user = per_user
        self.global_next: dict[str, Counter[str]] = defaultdict(Counter)
        self.user_next: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
        for s in steps:
            self.global_next[s.prev][s.item] += 1
            if per_user:
                self.user_next[s.user, s.prev][s.item] += 1

    def rank(self, step: Step) -> list[str]:
        """The user's transitions (if ``per_user``), then everyone's, then popularity."""
        own = _ranked(self.user_next.get((step.user, step.prev), Counter())) if self.per_user else []
        return _chain(own, _ranked(self.global_next.get(step.prev, Counter())), self.popular.ranking)


class PairwiseRules:
    """Rules a→c between items changed together in at least ``min_support`` train transactions."""

    def __init__(self, transactions: Iterable[list[str]], *, min_support: int = 2) -> None:
        single: Counter[str] = Counter()
        pair: Counter[tuple[str, str]] = Counter()
        for items in transactions:
            single.update(items)
            for a, c in combinations(items, 2):
                pair[a, c] += 1
                pair[c, a] += 1
        self.rules: dict[str, dict[str, tuple[float, int]]] = defaultdict(dict)
        for (a, c), support in pair.items():
            if support >= min_support:
                self.rules[a][c] = (support / single[a], support)

    def rank(self, query: list[str]) -> list[str]:
        """Candidates by their best confidence from any query item, ties by support, then by name."""
        given = set(query)
        best: dict[str, tuple[float, int]] = {}
        for a in query:
            for c, score in self.rules.get(a, {}).items():
                if c not in given and score > best.get(c, (-1.0, 0)):
                    best[c] = score
        return sorted(best, key=lambda c: (-best[c][0], -best[c][1], c))
