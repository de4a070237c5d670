"""Next action, the stronger model: a gradient-boosted re-ranker over the Markov model's top candidates.

The interpolated Markov (``models.next_action``) proposes its top ``TOP_K`` items; a scikit-learn
``HistGradientBoostingClassifier`` scores each (step, candidate) pair on what the Markov cannot combine by itself:
every context family's probability and rank, how recently the candidate appears in the user's history, the gap
since the event before and the time of day. Items below the top ``TOP_K`` keep the Markov's order. Whether the
re-ranker is used at all is decided on the train window's tail (``models.tuning.select_next_action``).
"""

from __future__ import annotations

import base64
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import skops.io as sio
from sklearn.ensemble import HistGradientBoostingClassifier
from threadpoolctl import threadpool_limits

from models.next_action import CONTEXTS, Context, NextActionModel, next_action_from_json, next_action_to_json
from models.protocol import Step

# candidates re-ranked per step: on the validation tails the true item is in the Markov's top 20 for 98% of flask
# steps and 94% of persona steps (top 10: 96%, 77%); 10 lost validation MRR on both
TOP_K = 20
# fixed, not tuned: the validation tail decides only whether the re-ranker is kept, so it is not spent on a grid
CLASSIFIER_PARAMS: dict[str, Any] = {
    "max_iter": 100, "learning_rate": 0.05, "max_leaf_nodes": 15, "min_samples_leaf": 40,
    "l2_regularization": 1.0, "early_stopping": False, "random_state": 0,
}  # fmt: skip
FAMILIES = tuple(CONTEXTS)
FEATURES = (
    [f"p_{f}" for f in FAMILIES] + [f"rank_{f}" for f in FAMILIES] + [f"mass_{f}" for f in FAMILIES]
    + ["score", "position", "is_prev", "in_history", "last_seen", "history_len", "log_gap", "hour", "weekday"]
)  # fmt: skip
NAN = math.nan
# OpenMP threads for the classifier: its data is small (at most ~240k rows), and with a thread per core it ran
# 5-25x slower than on one thread on a busy 2-core machine (threads spinning against other processes)
THREADS = 1


class _Features:
    """Feature rows of (step, candidate) pairs from one fitted Markov (every context family counted)."""

    def __init__(self, markov: NextActionModel) -> None:
        self.markov = markov
        self._cache: dict[tuple[str, Context], tuple[dict[str, tuple[float, int]], float]] = {}

    def _family(self, name: str, ctx: Context) -> tuple[dict[str, tuple[float, int]], float] | None:
        """Each item's (probability, rank) under one context, and the context's log mass; None if never seen."""
        key = (name, ctx)
        if key not in self._cache:
            seen = self.markov.counts.get(name, {}).get(ctx)
            total = sum(seen.values()) if seen else 0.0
            if not seen or not total:  # never seen, or every weight underflowed to 0
                return None
            order = sorted(seen, key=lambda item: (-seen[item], item))
            self._cache[key] = ({item: (seen[item] / total, i + 1) for i, item in enumerate(order)}, math.log1p(total))
        return self._cache[key]

    def rows(self, step: Step, candidates: Sequence[str], scores: dict[str, float]) -> list[list[float]]:
        """One feature row per candidate, in ``FEATURES`` order."""
        families = [self._family(name, key(step)) for name, key in CONTEXTS.items()]
        n = len(families)
        # the step's template: a seen context gives probability 0 to an item it never saw, an unseen one NaN
        template = (
            [NAN if f is None else 0.0 for f in families] + [NAN] * n + [NAN if f is None else f[1] for f in families]
        )
        when = datetime.fromtimestamp(step.prev_ts, UTC) if step.prev_ts is not None else None
        gap = step.prev_gap_s
        template += [0.0] * 5 + [
            float(len(step.history)),
            NAN if gap is None else math.log1p(max(gap, 0.0)),
            NAN if when is None else float(when.hour),
            NAN if when is None else float(when.weekday()),
        ]
        last = {item: len(step.history) - i for i, item in enumerate(step.history)}  # 1 = the previous item
        seen = [(i, f[0]) for i, f in enumerate(families) if f is not None]
        out = []
        for position, item in enumerate(candidates):
            row = template.copy()
            for i, stats in seen:
                hit = stats.get(item)
                if hit is not None:
                    row[i], row[n + i] = hit[0], float(hit[1])
            row[3 * n : 3 * n + 5] = [
                scores.get(item, 0.0), float(position), float(item == step.prev),
                float(step.history.count(item)), float(last.get(item, NAN)),
            ]  # fmt: skip
            out.append(row)
        return out

    def candidates(self, steps: Sequence[Step], top_k: int) -> Candidates:
        """Each step's full Markov ranking and the feature rows of its top ``top_k``."""
        ranked, rows, ends = [], [], []
        for step in steps:
            scores = self.markov.scores(step)
            order = sorted(scores, key=lambda item: (-scores[item], item))
            ranked.append(order)
            rows += self.rows(step, order[:top_k], scores)
            ends.append(len(rows))
        x = np.asarray(rows, dtype=np.float64).reshape(len(rows), len(FEATURES))
        return Candidates(ranked, x, ends, top_k)


@dataclass
class Candidates:
    """Steps' Markov rankings and the feature rows of their top ``top_k``, built once and used for training,
    validation and ranking alike."""

    ranked: list[list[str]]
    x: np.ndarray
    ends: list[int]  # where each step's rows end
    top_k: int

    def rerank(self, classifier: Any) -> list[list[str]]:
        """Each ranking with its head re-ordered by the classifier (one call for all steps: a call costs ~1 ms)."""
        with threadpool_limits(limits=THREADS):
            proba = classifier.predict_proba(self.x)[:, 1] if len(self.x) else np.empty(0)
        out, start = [], 0
        for order, end in zip(self.ranked, self.ends, strict=True):
            head, p = order[: self.top_k], proba[start:end]
            keep = sorted(range(len(head)), key=lambda i: (-p[i], i))  # ties keep the Markov's order
            out.append([head[i] for i in keep] + order[self.top_k :])
            start = end
        return out

    def labelled(self, truth: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Training rows and labels (1: the candidate came next); a step whose true item is not a candidate
        teaches nothing and is left out."""
        keep: list[int] = []
        labels: list[bool] = []
        start = 0
        for order, end, true in zip(self.ranked, self.ends, truth, strict=True):
            head = order[: self.top_k]
            if true in head:
                labels += [item == true for item in head]
                keep += range(start, end)
            start = end
        return self.x[keep], np.asarray(labels, dtype=np.int8)


@dataclass
class NextActionRanker:
    """The Markov's top ``top_k`` re-ranked by the classifier's probability that a candidate comes next."""

    markov: NextActionModel  # fitted with ``every_family=True``
    classifier: HistGradientBoostingClassifier
    top_k: int = TOP_K
    _features: _Features | None = field(default=None, repr=False, compare=False)

    def config(self) -> dict[str, Any]:
        """The Markov's hyper-parameters, the candidate count and the classifier's settings."""
        return {**self.markov.config(), "top_k": self.top_k, "classifier": CLASSIFIER_PARAMS}

    def rank(self, step: Step) -> list[str]:
        """Candidates, most likely first."""
        return self.rank_many([step])[0]

    def rank_many(self, steps: Iterable[Step]) -> list[list[str]]:
        """``rank`` of each step, batched."""
        if self._features is None:
            self._features = _Features(self.markov)
        return self._features.candidates(list(steps), self.top_k).rerank(self.classifier)


def candidates(markov: NextActionModel, steps: Sequence[Step], *, top_k: int = TOP_K) -> Candidates:
    """The candidates and feature rows of ``steps`` under ``markov`` (fitted with ``every_family=True``)."""
    return _Features(markov).candidates(steps, top_k)


def fit_classifier(folds: Sequence[tuple[Candidates, Sequence[Step]]]) -> HistGradientBoostingClassifier | None:
    """Train the classifier on folds of (candidates from a Markov fitted on earlier steps only, the steps); None
    when the rows hold no positive or no negative example."""
    parts = [c.labelled([s.item for s in steps]) for c, steps in folds]
    y = np.concatenate([p[1] for p in parts]) if parts else np.empty(0, dtype=np.int8)
    if not y.any() or y.all():
        return None
    with threadpool_limits(limits=THREADS):
        return HistGradientBoostingClassifier(**CLASSIFIER_PARAMS).fit(np.concatenate([p[0] for p in parts]), y)


def model_to_json(model: NextActionModel | NextActionRanker) -> dict[str, Any]:
    """A JSON form of either model (the classifier as base64 of its skops serialisation, which is not pickle)."""
    if isinstance(model, NextActionModel):
        return next_action_to_json(model)
    blob = base64.b64encode(sio.dumps(model.classifier)).decode("ascii")
    return {"kind": "ranker", "top_k": model.top_k, "markov": next_action_to_json(model.markov), "classifier": blob}


def model_from_json(data: dict[str, Any]) -> NextActionModel | NextActionRanker:
    """The model that ``model_to_json`` wrote (a plain Markov's JSON has no ``kind``)."""
    if data.get("kind") != "ranker":
        return next_action_from_json(data)
    blob = base64.b64decode(data["classifier"])
    # only scikit-learn's own types are trusted: the artifact is ours, but a foreign type must not load
    trusted = [t for t in sio.get_untrusted_types(data=blob) if t.startswith("sklearn.")]
    classifier = sio.loads(blob, trusted=trusted)
    return NextActionRanker(next_action_from_json(data["markov"]), classifier, int(data["top_k"]))
