"""Ranker features: only answers before the moment count, training rows equal serving rows, odd input is fine."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import numpy as np
import pytest

from serving.ranker import examples
from serving.ranker_features import FEATURES, History, features, matrix
from serving.simulate import START, plausible_suggestions


def _answer(s: dict[str, Any], action: str, minutes: float) -> dict[str, Any]:
    return {"user_id": 1, "suggestion_id": s["id"], "action": action, "shown": s, "position": 0,
            "created_at": START + timedelta(minutes=minutes)}  # fmt: skip


@pytest.fixture
def pool() -> list[dict[str, Any]]:
    return plausible_suggestions(random.Random(3), 0, 12)


def test_answers_at_or_after_the_moment_are_ignored(pool: list[dict[str, Any]]) -> None:
    target = pool[0]
    as_of = START + timedelta(minutes=10)
    before = [_answer(pool[1], "dismiss", 1), _answer(pool[2], "accept", 5)]
    future = [_answer(target, "accept", 10), _answer(pool[3], "accept", 11), _answer(target, "dismiss", 30)]
    same_template = [_answer(s, "accept", 2) for s in pool if s["template"] == target["template"] and s is not target]
    base = features(target, before, as_of)
    assert features(target, before + future, as_of) == base  # the answer itself and everything later: no effect
    assert features(target, future + before, as_of) == base  # order of the rows does not matter either
    # the same kind of answer before the moment does move the features (the test above could fail)
    moved = features(target, [*before, _answer(target, "dismiss", 9), *same_template], as_of)
    assert moved["same_pattern_dismissed"] == 1.0
    assert base["same_pattern_dismissed"] == 0.0
    assert moved["tpl_dismiss"] > base["tpl_dismiss"]
    assert moved["log_answers"] > base["log_answers"]


def _training_rows_equal_serving_rows(
    rows: list[dict[str, Any]], labelled: list[dict[str, Any]]
) -> tuple[np.ndarray, np.ndarray]:
    """``examples(rows)``'s features and labels in ``labelled``'s order (user, then time), after checking there is
    one row per labelled answer and each equals ``features`` of the answer's user at its moment."""
    ex = examples(rows)
    assert len(ex.y) == len(labelled) > 0
    expected = np.asarray([
        [features(r["shown"], [h for h in rows if h["user_id"] == r["user_id"]], r["created_at"])[f] for f in FEATURES]
        for r in labelled
    ])  # fmt: skip
    order = np.lexsort((ex.when, ex.user.astype(int)))
    assert np.array_equal(ex.x[order], expected)
    return ex.x[order], ex.y[order]


def test_training_rows_are_the_serving_rows(pool: list[dict[str, Any]]) -> None:
    """``examples`` folds each user's answers incrementally; every row equals ``features`` at its moment."""
    rng = random.Random(0)
    rows = [
        {**_answer(s, rng.choice(["accept", "dismiss", "snooze"]), m), "user_id": u}
        for u in (1, 2) for m, s in zip([0, 0, 3, 7, 7, 9, 20, 21], pool, strict=False)
    ]  # fmt: skip
    labelled = [r for u in (1, 2) for r in rows if r["user_id"] == u and r["action"] != "snooze"]
    _, y = _training_rows_equal_serving_rows(rows, labelled)
    assert y.tolist() == [int(r["action"] == "accept") for r in labelled]


def test_no_history_and_malformed_suggestions(pool: list[dict[str, Any]]) -> None:
    empty = features(pool[0], [])
    assert empty["log_answers"] == 0.0
    assert empty["tpl_accept"] == empty["accept_rate"] == pytest.approx(0.3)
    assert empty[f"template={pool[0]['template']}"] == 1.0
    odd: list[dict[str, Any]] = [{}, {"template": "nope", "pattern": "x", "evidence": None, "savings": {"minutes_per_week": "a lot"}},
           {"template": "run_on_save", "evidence": {"last_seen": "not a time", "lift": float("nan")}}]  # fmt: skip
    x = matrix(odd, [{"action": "accept", "shown": {}}, {"action": "??"}])
    assert x.shape == (3, len(FEATURES))
    assert np.isfinite(x).all()
    assert History.of([{"action": "accept", "shown": {}}]).total.n == 1


def _outcome(s: dict[str, Any], verdict: str, minutes: float, user_id: int = 1) -> dict[str, Any]:
    """A verdict on the workflow adopted from ``s``, as ``serving.store.OUTCOME_HISTORY`` reads it."""
    return {"user_id": user_id, "suggestion_id": s["id"], "action": "outcome", "verdict": verdict,
            "shown": {"id": s["id"], "template": s["template"]}, "created_at": START + timedelta(minutes=minutes)}  # fmt: skip


def test_adopted_workflows_outcomes_count_from_their_verdict_on(pool: list[dict[str, Any]]) -> None:
    """A template whose adopted workflows went unused ranks lower than one whose workflows save time; a verdict
    counts only from when it was known, and ``measuring`` is no verdict."""
    target = max(pool, key=lambda s: sum(t["template"] == s["template"] for t in pool))
    same = [s for s in pool if s["template"] == target["template"] and s is not target]
    assert len(same) >= 2
    other = next(s for s in pool if s["template"] != target["template"])
    as_of = START + timedelta(minutes=100)
    accepted = [_answer(s, "accept", 1) for s in [*same, other]]
    base = features(target, accepted, as_of)
    assert base["tpl_outcomes"] == 0.0
    assert base["outcome_used"] == base["tpl_outcome_used"] == pytest.approx(0.5)
    unused = features(target, [*accepted, *(_outcome(s, "unused", 50) for s in same)], as_of)
    saving = features(target, [*accepted, *(_outcome(s, "saving", 50) for s in same)], as_of)
    assert unused["tpl_outcome_used"] < base["tpl_outcome_used"] < saving["tpl_outcome_used"]
    assert unused["tpl_outcomes"] == saving["tpl_outcomes"] == pytest.approx(np.log1p(len(same)))
    # another template's verdict moves the person's overall rate, not this template's count
    elsewhere = features(target, [*accepted, _outcome(other, "unused", 50)], as_of)
    assert elsewhere["outcome_used"] < base["outcome_used"]
    assert elsewhere["tpl_outcomes"] == 0.0
    # a verdict known only later, or no verdict yet: no effect; and outcomes are not answers
    assert features(target, [*accepted, *(_outcome(s, "unused", 100) for s in same)], as_of) == base
    assert features(target, [*accepted, *(_outcome(s, "measuring", 50) for s in same)], as_of) == base
    assert unused["log_answers"] == base["log_answers"]


def test_training_rows_are_the_serving_rows_with_outcomes(pool: list[dict[str, Any]]) -> None:
    """Outcome rows are folded by ``examples`` as by ``features``; they are never labelled examples themselves."""
    rng = random.Random(1)
    rows: list[dict[str, Any]] = []
    for u in (1, 2):
        for m, s in zip([0, 2, 4, 6, 8, 10, 12, 14, 16, 18], pool, strict=False):
            rows.append({**_answer(s, rng.choice(["accept", "dismiss"]), m), "user_id": u})
            if rows[-1]["action"] == "accept":
                rows.append(_outcome(s, rng.choice(["saving", "unused", "no_saving", "used"]), m + 5, u))
    labelled = [r for u in (1, 2) for r in rows if r["user_id"] == u and r["action"] != "outcome"]
    expected, _ = _training_rows_equal_serving_rows(rows, labelled)
    assert expected[:, FEATURES.index("tpl_outcomes")].max() > 0  # outcomes did reach some rows
