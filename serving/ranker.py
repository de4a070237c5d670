"""The suggestion ranker: a logistic regression over ``serving.ranker_features``, trained on everyone's feedback.

Labels: ``accept`` = 1, ``dismiss`` = 0. A ``snooze`` is no label ("not now" says nothing about whether the
automation is wanted; as a 0 it would teach the model to bury what people postpone), but it stays in the history
(the snooze rates are features). Each example's features come from its user's answers strictly before it.

Held-out evaluation: the latest ``holdout`` share of the labelled answers in time (everyone's), scored by the
ranker fitted on the earlier ones and by the transparent score the suggestion carried when shown. The metric,
``pair_auc``, is the share of (accepted, dismissed) pairs of the same person that a score orders right (ties
half): ranking happens within one person's list, so pairs across people do not count. The version is
registered as ``floyo-ranker`` (scope ``lake``) and gets the ``champion`` alias only if it beats both the
transparent score and the current champion on the same held-out answers. A ranker that beat the transparent
score is logged (and served) refitted on every answer, the held-out ones included: the procedure was judged on
answers it never saw, and the latest answers, with the longest histories, are the most like serving.
"""

from __future__ import annotations

import json
import math
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from mlflow.pyfunc.model import PythonModel

from serving.ranker_features import FEATURES, INDEX, History, _time, rows

if TYPE_CHECKING:
    from sqlalchemy import Engine

NAME = "floyo-ranker"
HOLDOUT = 0.25
MIN_EXAMPLES = 30  # labelled answers before a model is worth fitting
MIN_PAIRS = 10  # held-out (accepted, dismissed) pairs of the same person before a comparison means anything
C = 1.0  # L2 strength of the logistic regression: fixed, not tuned (the held-out answers decide promotion only)
SCORE = INDEX["score"]


@dataclass(frozen=True)
class Ranker:
    """A fitted linear model on standardised features: scoring is one small matrix product."""

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float

    def __repr__(self) -> str:
        return f"Ranker(logistic, {len(self.coef)} features)"

    def predict(self, x: np.ndarray) -> np.ndarray:
        """The probability of acceptance of each feature row."""
        z = ((x - self.mean) / self.scale) @ self.coef + self.intercept
        out: np.ndarray = 1.0 / (1.0 + np.exp(-z))
        return out

    def rank(
        self,
        suggestions: Sequence[Mapping[str, Any]],
        history: Iterable[Mapping[str, Any]],
        now: datetime | None = None,
    ) -> list[float]:
        """One score per suggestion (higher first) for a person whose answers are ``history``. With ``now``,
        answers after it are ignored and recency counts to it; without, every answer counts (they are all past)
        and recency counts to the current hour (so that repeated calls agree)."""
        if not suggestions:
            return []
        folded = History.of(history, now)
        when = now or datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        return [float(p) for p in self.predict(rows(folded, suggestions, when))]

    def to_json(self) -> dict[str, Any]:
        """The model as JSON (feature names kept, so a model of another feature set is refused on load)."""
        return {
            "kind": "logistic", "features": list(FEATURES), "mean": self.mean.tolist(), "scale": self.scale.tolist(),
            "coef": self.coef.tolist(), "intercept": self.intercept,
        }  # fmt: skip

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Ranker:
        """The ranker ``to_json`` wrote; ValueError when it was fitted on other features."""
        if list(data.get("features", [])) != list(FEATURES):
            raise ValueError("the ranker was trained on another feature set")
        return cls(
            np.asarray(data["mean"], dtype=np.float64), np.asarray(data["scale"], dtype=np.float64),
            np.asarray(data["coef"], dtype=np.float64), float(data["intercept"]),
        )  # fmt: skip


def fit(x: np.ndarray, y: np.ndarray) -> Ranker:
    """A ranker fitted on feature rows and labels (both classes needed)."""
    from sklearn.linear_model import LogisticRegression

    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale == 0] = 1.0  # a constant feature (a template nobody saw yet) contributes nothing
    model = LogisticRegression(C=C, max_iter=1000).fit((x - mean) / scale, y)
    return Ranker(mean, scale, model.coef_[0].astype(np.float64), float(model.intercept_[0]))


@dataclass
class Examples:
    """Labelled answers as feature rows, with their time, person and transparent score."""

    x: np.ndarray
    y: np.ndarray
    when: np.ndarray  # POSIX seconds
    user: np.ndarray

    def take(self, mask: np.ndarray) -> Examples:
        return Examples(self.x[mask], self.y[mask], self.when[mask], self.user[mask])


def examples(feedback: Iterable[Mapping[str, Any]], frozen_from: float | None = None) -> Examples:
    """One row per accept or dismiss: the shown suggestion's features against the same person's answers strictly
    before it (exactly ``History.of(rows, as_of=created_at)``, folded incrementally). With ``frozen_from`` (POSIX
    seconds) the history stops there and only the answers from then on get rows, each against the history as it
    stood at that moment."""
    by_user: dict[Any, list[tuple[datetime, Mapping[str, Any]]]] = defaultdict(list)
    for row in feedback:
        when = _time(row.get("created_at"))
        if when is not None:
            by_user[row.get("user_id")].append((when, row))
    xs: list[list[float]] = []
    ys: list[int] = []
    whens: list[float] = []
    users: list[Any] = []
    for user, answers in by_user.items():
        answers.sort(key=lambda r: r[0])
        history, added = History(), 0
        for when, row in answers:
            # strictly before: answers at the same instant do not see each other (as ``History.of`` has it)
            while (
                added < len(answers)
                and answers[added][0] < when
                and (frozen_from is None or answers[added][0].timestamp() < frozen_from)
            ):
                history.add(answers[added][1])
                added += 1
            if frozen_from is not None and when.timestamp() < frozen_from:
                continue  # before the cut: only folded (the caller keeps the rows after it)
            if row.get("action") in ("accept", "dismiss"):
                shown = row.get("shown")
                xs.append(history.row(shown if isinstance(shown, Mapping) else {}, when))
                ys.append(int(row["action"] == "accept"))
                whens.append(when.timestamp())
                users.append(user)
    x = np.asarray(xs, dtype=np.float64).reshape(len(xs), len(FEATURES))
    return Examples(x, np.asarray(ys, dtype=np.int8), np.asarray(whens), np.asarray(users, dtype=object))


def pair_auc(scores: np.ndarray, y: np.ndarray, user: np.ndarray) -> tuple[float, int]:
    """The share of same-person (accepted, dismissed) pairs that ``scores`` orders right (ties count half), and
    the number of such pairs."""
    right = 0.0
    pairs = 0
    groups: dict[Any, list[int]] = defaultdict(list)
    for i, u in enumerate(user.tolist()):
        groups[u].append(i)
    for index in groups.values():
        s, lab = scores[index], y[index]
        pos, neg = s[lab == 1], s[lab == 0]
        if len(pos) and len(neg):
            diff = pos[:, None] - neg[None, :]
            right += float((diff > 0).sum() + 0.5 * (diff == 0).sum())
            pairs += diff.size
    return (right / pairs if pairs else math.nan), pairs


def split(feedback: Iterable[Mapping[str, Any]], holdout: float = HOLDOUT) -> tuple[Examples, Examples]:
    """Earlier answers to train on, the latest ``holdout`` share (by time, everyone's) held out; answers at the
    same instant fall on the same side. A training answer sees every answer before it; the held-out answers of one
    person all see the history as it stood at the cut, as a list ranked at one moment does (else a pair would
    compare two moments, and what a person said in between, not the suggestions, would order it)."""
    feedback = list(feedback)
    ex = examples(feedback)
    if not len(ex.when):
        return ex, ex
    cut = float(np.sort(ex.when)[min(int(len(ex.when) * (1 - holdout)), len(ex.when) - 1)])
    held = examples(feedback, frozen_from=cut)
    return ex.take(ex.when < cut), held.take(held.when >= cut)


def train_from_feedback(
    feedback: Iterable[Mapping[str, Any]], *, holdout: float = HOLDOUT, register: bool = True
) -> dict[str, Any]:
    """Fit on the earlier answers, evaluate on the later ones against the transparent score (and the champion),
    log and maybe promote (``register``). The summary says what happened and why; it holds the fitted ``ranker``
    when one was trained: once the fit on the earlier answers beats the transparent score on the held-out ones,
    the same procedure refitted on every answer (``refit``; that is the version logged and served; the metrics
    are the held-out fit's). Without ``register`` nothing touches MLflow and ``promoted`` says whether the ranker
    beat the transparent score (the simulation's rule). A refitted champion has seen some of the next run's
    held-out answers, so re-scoring it there flatters it: a challenger has to beat it all the more."""
    started = time.perf_counter()
    feedback = list(feedback)
    train, test = split(feedback, holdout)
    summary: dict[str, Any] = {
        "name": NAME, "examples": len(train.y) + len(test.y), "train": len(train.y), "test": len(test.y), "trained": False,
        "promoted": False,
    }  # fmt: skip
    if len(train.y) < MIN_EXAMPLES or train.y.all() or not train.y.any():
        return summary | {"reason": f"too few answers to learn from ({len(train.y)} labelled, both kinds needed)"}
    ranker = fit(train.x, train.y)
    auc, pairs = pair_auc(ranker.predict(test.x), test.y, test.user)
    baseline, _ = pair_auc(test.x[:, SCORE], test.y, test.user)
    summary |= {
        "trained": True,
        "ranker": ranker,
        "pair_auc": auc,
        "transparent_pair_auc": baseline,
        "pairs": pairs,
        "refit": False,
    }
    if pairs < MIN_PAIRS:
        summary["train_seconds"] = round(time.perf_counter() - started, 3)
        return summary | {"reason": f"too few held-out pairs to compare ({pairs} < {MIN_PAIRS})"}
    if auc > baseline:
        # the procedure passed on answers it never saw: the model that serves is the same procedure fitted on
        # every answer (the held-out ones are the latest, with the longest histories: the most like serving)
        every = examples(feedback)
        summary |= {"ranker": fit(every.x, every.y), "refit": True}
    summary["train_seconds"] = round(time.perf_counter() - started, 3)
    if not register:
        summary["promoted"] = auc > baseline
        return summary
    return summary | _log_and_promote(summary["ranker"], train, test, auc, baseline, pairs)


def _log_and_promote(
    ranker: Ranker, train: Examples, test: Examples, auc: float, baseline: float, pairs: int
) -> dict[str, Any]:
    from models import tracking

    previous = tracking.champion_version(NAME)
    champion_auc = None
    if previous is not None:
        champion, _ = _load(previous)
        champion_auc = pair_auc(champion.predict(test.x), test.y, test.user)[0] if champion else None
    data = {
        "source": "suggestion_feedback", "train_examples": len(train.y), "test_examples": len(test.y),
        "train_start": _iso(train.when.min()), "train_end": _iso(train.when.max()),
        "test_start": _iso(test.when.min()), "test_end": _iso(test.when.max()),
        "users": len(set(train.user.tolist()) | set(test.user.tolist())),
    }  # fmt: skip
    metrics = {
        "pair_auc": auc, "transparent_pair_auc": baseline, "pairs": float(pairs),
        "test_accept_rate": float(test.y.mean()),
    }  # fmt: skip
    logged = tracking.log_model_run(
        name=NAME, python_model=RankerPyfunc(), artifact=ranker.to_json(),
        params={"model": "logistic", "C": C, "holdout": HOLDOUT, "features": len(FEATURES), "refit": auc > baseline},
        metrics=metrics, data=data, input_example=pd.DataFrame(test.x[:5], columns=list(FEATURES)),
    )  # fmt: skip
    promoted = auc > baseline and (champion_auc is None or auc > champion_auc)
    if promoted:
        tracking.promote(logged)
    return {
        "version": logged.version, "run_id": logged.run_id, "champion_before": previous,
        "champion_pair_auc": champion_auc, "promoted": promoted,
    }  # fmt: skip


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(float(ts), UTC).isoformat()


class RankerPyfunc(PythonModel):
    """Input: one column per feature (``serving.ranker_features.FEATURES``); output: ``score``, the probability
    of acceptance."""

    ranker: Ranker

    def load_context(self, context: Any) -> None:
        """Read the fitted ranker from its JSON artifact."""
        self.ranker = Ranker.from_json(json.loads(Path(context.artifacts["model"]).read_text()))

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        """The score of each feature row."""
        x = model_input[list(FEATURES)].to_numpy(dtype=np.float64)
        return pd.DataFrame({"score": self.ranker.predict(x)})


def _load(version: str) -> tuple[Ranker | None, str | None]:
    from models import tracking

    model = tracking.load(NAME, version)
    python = model.unwrap_python_model()
    try:
        ranker = python.ranker
    except AttributeError:
        return None, None
    return (ranker, version) if isinstance(ranker, Ranker) else (None, None)


def load_champion() -> tuple[Ranker | None, str | None]:
    """The ``champion`` ranker and its version; ``(None, None)`` when there is none (serve the transparent score).
    A store that cannot answer raises ``floyo.errors.Unavailable``."""
    from models import tracking

    version = tracking.champion_version(NAME)
    return (None, None) if version is None else _load(version)


def read_feedback(engine: Engine) -> list[dict[str, Any]]:
    """Every answer of every person, and the verdicts on the workflows they adopted (history rows of action
    ``outcome``, ``serving.store.OUTCOME_HISTORY``), as the table owner (row level security does not apply to it)."""
    from sqlalchemy import text

    from serving.store import OUTCOME_HISTORY

    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT user_id, suggestion_id, action, created_at, shown, position FROM suggestion_feedback "
                "ORDER BY user_id, created_at, id"
            )
        ).mappings()
        answers = [dict(r) for r in rows]
        outcomes = [dict(r) for r in conn.execute(text(OUTCOME_HISTORY)).mappings()]
    return answers + outcomes


def train_ranker(engine: Engine, *, holdout: float = HOLDOUT, register: bool = True) -> dict[str, Any]:
    """The job step: read ``suggestion_feedback``, train, evaluate, log and maybe promote; a JSON-able summary."""
    started = time.perf_counter()
    summary = train_from_feedback(read_feedback(engine), holdout=holdout, register=register)
    summary.pop("ranker", None)
    summary["seconds"] = round(time.perf_counter() - started, 3)
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in summary.items()}
