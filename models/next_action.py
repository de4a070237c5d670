"""Next action: an interpolated variable-order Markov model with back-off and recency.

The score of a candidate is a weighted sum of its probability under several contexts, from the most
specific (this user after this item; this folder and item; the two last items) to the least (popularity).
A context that was never seen adds nothing, so the model backs off to the shorter ones by itself. Counts
decay with the age of their transaction (half-life in transactions), because habits drift.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from models.protocol import HISTORY, Step, top_dir

Context = tuple[str | None, ...]

#: each context family and the key it reads from a step
CONTEXTS: dict[str, Callable[[Step], Context]] = {
    "user": lambda s: (s.user, s.prev),
    "dir": lambda s: (s.prev_dir, s.prev),
    "order2": lambda s: (s.prev2, s.prev),
    "global": lambda s: (s.prev,),
    "user_pop": lambda s: (s.user,),
    "pop": lambda s: (),
}


@dataclass
class NextActionModel:
    """Interpolated variable-order Markov with back-off; ``weights`` per context family, 0 turns it off."""

    weights: dict[str, float] = field(
        default_factory=lambda: {"user": 1.0, "dir": 1.0, "global": 1.0, "order2": 0.0, "user_pop": 0.0, "pop": 0.01}
    )
    half_life: float | None = 500.0  # in transactions; None: no decay
    counts: dict[str, dict[Context, dict[str, float]]] = field(default_factory=dict)

    def fit(self, steps: Iterable[Step], *, every_family: bool = False) -> NextActionModel:
        """Count the (decayed) transitions of every active context family (of all of them with ``every_family``:
        the re-ranker reads each family's probability as a feature; the ranking does not change)."""
        steps = list(steps)
        now = max((s.when for s in steps), default=0) + 1
        active = {name: key for name, key in CONTEXTS.items() if every_family or self.weights.get(name, 0) > 0}
        counts: dict[str, dict[Context, dict[str, float]]] = {
            n: defaultdict(lambda: defaultdict(float)) for n in active
        }
        for s in steps:
            w = 1.0 if self.half_life is None else 0.5 ** ((now - s.when) / self.half_life)
            for name, key in active.items():
                ctx = key(s)
                if None not in ctx:
                    counts[name][ctx][s.item] += w
        self.counts = {n: {ctx: dict(c) for ctx, c in table.items()} for n, table in counts.items()}
        return self

    def config(self) -> dict[str, Any]:
        """The hyper-parameters, as given to the constructor (context families with weight 0 left out)."""
        return {"half_life": self.half_life, "weights": {k: w for k, w in self.weights.items() if w > 0}}

    def scores(self, step: Step) -> dict[str, float]:
        """Every candidate's interpolated probability for what follows ``step.prev``."""
        total: dict[str, float] = defaultdict(float)
        for name, table in self.counts.items():
            if self.weights.get(name, 0) <= 0:
                continue
            seen = table.get(CONTEXTS[name](step))
            if not seen:
                continue
            norm = self.weights[name] / sum(seen.values())
            for item, count in seen.items():
                total[item] += norm * count
        return total

    def rank(self, step: Step) -> list[str]:
        """Candidates, most likely first (ties by name)."""
        scores = self.scores(step)
        return sorted(scores, key=lambda item: (-scores[item], item))

    def rank_many(self, steps: Sequence[Step]) -> list[list[str]]:
        """``rank`` of each step (the interface the re-ranker shares, where batching is faster)."""
        return [self.rank(s) for s in steps]


def steps_from_items(items: pl.DataFrame) -> list[Step]:
    """Each user's transitions from ``user_id, ts, item`` rows (an optional ``path`` gives the folder context).

    ``when`` is the event's position in time over all users, so recency decays per event.
    """
    has_path = "path" in items.columns
    ordered = items.with_row_index("_order").sort("ts", "_order").with_row_index("when")
    steps: list[Step] = []
    for (user,), part in (
        ordered.sort("user_id", "when").partition_by("user_id", as_dict=True, maintain_order=True).items()
    ):
        seq = part["item"].to_list()
        dirs = [top_dir(p) for p in part["path"].to_list()] if has_path else [""] * len(seq)
        when = part["when"].to_list()
        t = (part["ts"].dt.epoch("ms") / 1000).to_list()
        for i in range(1, len(seq)):
            prev2, gap = (seq[i - 2], t[i - 1] - t[i - 2]) if i >= 2 else (None, None)
            history = tuple(seq[max(0, i - HISTORY) : i])
            steps.append(Step(str(user), seq[i - 1], dirs[i - 1], prev2, seq[i], when[i], history, t[i - 1], gap))
    return steps


def next_action_to_json(model: NextActionModel) -> dict[str, Any]:
    """A plain JSON form of a fitted model (what MLflow stores as its artifact)."""
    counts = {name: [[list(ctx), seen] for ctx, seen in table.items()] for name, table in model.counts.items()}
    return {"half_life": model.half_life, "weights": model.weights, "counts": counts}


def next_action_from_json(data: dict[str, Any]) -> NextActionModel:
    """The model that ``next_action_to_json`` wrote."""
    model = NextActionModel(weights=dict(data["weights"]), half_life=data["half_life"])
    model.counts = {name: {tuple(ctx): dict(seen) for ctx, seen in table} for name, table in data["counts"].items()}
    return model
