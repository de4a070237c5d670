"""Next action: an interpolated variable-order Markov model with back-off and recency.

The score of a candidate is a weighted sum of its probability under several contexts, from the most
specific (this user after this item; this folder and item; the two last items) to the least (popularity).
A context that was never seen adds nothing, so the model backs off to the shorter ones by itself. Counts
decay with the age of their transaction (half-life in transactions), because habits drift.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from models.steps import Step, Steps

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
#: the same keys as ``Steps`` columns
FAMILY_COLUMNS: dict[str, tuple[str, ...]] = {
    "user": ("user", "prev"), "dir": ("prev_dir", "prev"), "order2": ("prev2", "prev"), "global": ("prev",),
    "user_pop": ("user",), "pop": (),
}  # fmt: skip


@dataclass
class _Cells:
    """One context family's (context, item) cells: the steps it covers (``rows``, in order), the cell of each,
    and each cell's code in every key column (to name it)."""

    rows: np.ndarray | None  # None: every step
    cell: np.ndarray  # int32
    codes: list[np.ndarray]
    names: list[np.ndarray]


class Transitions:
    """Steps (``Steps`` or objects) made ready for counting: each family's cells are found once (``np.unique``
    over integer keys) and summed per half-life and time cut, so a tuning grid re-counts arrays, not objects."""

    def __init__(self, steps: Steps | Iterable[Step]) -> None:
        self.steps = steps if isinstance(steps, Steps) else Steps.of(steps)
        self.when = self.steps.when().astype(np.int64)
        self._cells: dict[str, _Cells] = {}
        self._weights: dict[tuple[float | None, int], np.ndarray] = {}

    def _family(self, name: str) -> _Cells:
        if name not in self._cells:
            frame = self.steps.frame
            cols = (*FAMILY_COLUMNS[name], "item")
            rows = None
            if "prev2" in cols:  # a step without an item before ``prev`` has no order-2 context
                rows = np.flatnonzero(frame["prev2"].is_not_null().to_numpy())
            key = np.zeros(frame.height if rows is None else len(rows), dtype=np.int64)
            sizes, names = [], []
            for c in cols:
                categories = frame[c].dtype.categories  # type: ignore[attr-defined]
                sizes.append(max(len(categories), 1))
                names.append(np.array(categories.to_list(), dtype=object))
                code = frame[c].to_physical().to_numpy()
                key = key * sizes[-1] + (code if rows is None else code[rows]).astype(np.int64)
            keys, cell = np.unique(key, return_inverse=True)
            del key
            codes: list[np.ndarray] = []
            for size in reversed(sizes):
                keys, code = np.divmod(keys, size)
                codes.insert(0, code)
            self._cells[name] = _Cells(rows, cell.ravel().astype(np.int32), codes, names)
        return self._cells[name]

    def _weight_table(self, half_life: float | None, now: int) -> np.ndarray:
        """The weight of a step of each ``when`` below ``now``, with Python's own power (as the objects' loop)."""
        if (half_life, now) not in self._weights:
            weights = [1.0 if half_life is None else 0.5 ** ((now - k) / half_life) for k in range(now)]
            self._weights[half_life, now] = np.array(weights, dtype=np.float64)
        return self._weights[half_life, now]

    def counts(
        self, families: Iterable[str], *, half_life: float | None, before: int | None = None
    ) -> dict[str, dict[Context, dict[str, float]]]:
        """Each family's decayed counts ``{context: {item: weight}}`` over the steps with ``when < before`` (all
        by default), summed in step order, contexts and items in the order first seen: what a loop over the step
        objects gave, to the last bit."""
        use = np.ones(len(self.when), dtype=bool) if before is None else self.when < before
        now = int(self.when[use].max()) + 1 if use.any() else 1
        table = self._weight_table(half_life, now)
        out = {}
        for name in families:
            f = self._family(name)
            kept = use if f.rows is None else use[f.rows]
            rows = np.flatnonzero(kept) if f.rows is None else f.rows[kept]
            cell = f.cell[kept]
            n = len(f.codes[0]) if f.codes else 0
            sums = np.bincount(cell, weights=table[self.when[rows]], minlength=n)
            first = np.full(n, len(self.when), dtype=np.int64)
            np.minimum.at(first, cell, rows)
            seen = np.flatnonzero(first < len(self.when))
            order = seen[np.argsort(first[seen], kind="stable")]
            labels = [names[codes[order]].tolist() for names, codes in zip(f.names, f.codes, strict=True)]
            contexts = list(zip(*labels[:-1], strict=True)) if len(labels) > 1 else [()] * len(order)
            family: dict[Context, dict[str, float]] = {}
            for ctx, item, weight in zip(contexts, labels[-1], sums[order].tolist(), strict=True):
                family.setdefault(ctx, {})[item] = weight
            out[name] = family
        return out


@dataclass
class NextActionModel:
    """Interpolated variable-order Markov with back-off; ``weights`` per context family, 0 turns it off."""

    weights: dict[str, float] = field(
        default_factory=lambda: {"user": 1.0, "dir": 1.0, "global": 1.0, "order2": 0.0, "user_pop": 0.0, "pop": 0.01}
    )
    half_life: float | None = 500.0  # in transactions; None: no decay
    counts: dict[str, dict[Context, dict[str, float]]] = field(default_factory=dict)

    def fit(
        self, steps: Transitions | Steps | Iterable[Step], *, every_family: bool = False, before: int | None = None
    ) -> NextActionModel:
        """Count the (decayed) transitions of every active context family (of all of them with ``every_family``:
        the re-ranker reads each family's probability as a feature; the ranking does not change), over the steps
        with ``when < before`` when given."""
        counted = steps if isinstance(steps, Transitions) else Transitions(steps)
        active = [name for name in CONTEXTS if every_family or self.weights.get(name, 0) > 0]
        self.counts = counted.counts(active, half_life=self.half_life, before=before)
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
            if not seen or not (mass := sum(seen.values())):  # never seen, or every weight underflowed to 0
                continue
            norm = self.weights[name] / mass
            for item, count in seen.items():
                total[item] += norm * count
        return total

    def rank(self, step: Step) -> list[str]:
        """Candidates, most likely first (ties by name)."""
        scores = self.scores(step)
        return sorted(scores, key=lambda item: (-scores[item], item))

    def rank_many(self, steps: Iterable[Step]) -> list[list[str]]:
        """``rank`` of each step (the interface the re-ranker shares, where batching is faster)."""
        return [self.rank(s) for s in steps]


def steps_from_items(items: pl.DataFrame) -> Steps:
    """Each user's transitions from ``user_id, ts, item`` rows (an optional ``path`` gives the folder context).

    ``when`` is the event's position in time over all users, so recency decays per event.
    """
    ordered = items.with_row_index("_order").sort("ts", "_order").with_row_index("g").sort("user_id", "g")
    events = ordered.select(
        pl.col("user_id").cast(pl.String).alias("user"), (pl.col("ts").dt.epoch("ms") / 1000).alias("t"),
        pl.col("path") if "path" in items.columns else pl.lit("").alias("path"), "item", "g",
    ).with_row_index("row")  # fmt: skip
    return Steps.of_events(events)


def next_action_to_json(model: NextActionModel) -> dict[str, Any]:
    """A plain JSON form of a fitted model (what MLflow stores as its artifact)."""
    counts = {name: [[list(ctx), seen] for ctx, seen in table.items()] for name, table in model.counts.items()}
    return {"half_life": model.half_life, "weights": model.weights, "counts": counts}


def next_action_from_json(data: dict[str, Any]) -> NextActionModel:
    """The model that ``next_action_to_json`` wrote."""
    model = NextActionModel(weights=dict(data["weights"]), half_life=data["half_life"])
    model.counts = {name: {tuple(ctx): dict(seen) for ctx, seen in table} for name, table in data["counts"].items()}
    return model
