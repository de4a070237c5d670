"""The re-ranker is kept only when it wins on the train window's tail: it is discarded on a sequence the Markov
already models perfectly, kept on one whose next item depends on the item three steps back."""

from __future__ import annotations

import random
from collections.abc import Callable

from models.evaluate import _next_ext
from models.next_action_ranker import NextActionRanker, model_from_json, model_to_json
from models.protocol import HISTORY, Step, hit_metrics, time_split
from models.tuning import RANKER_MARGIN, select_next_action
from tests.models.helpers import events

ITEMS = [f"i{k}" for k in range(8)]


def sequence_steps(n: int, following: Callable[[list[str], random.Random], str], *, seed: int = 0) -> list[Step]:
    """One user's steps over ``n`` items, each drawn by ``following(items so far, rng)``; one item a minute."""
    rng = random.Random(seed)
    seq = [rng.choice(ITEMS) for _ in range(3)]
    while len(seq) < n:
        seq.append(following(seq, rng))
    return [
        Step("u", seq[i - 1], "", seq[i - 2] if i >= 2 else None, seq[i], i, tuple(seq[max(0, i - HISTORY) : i]),
             60.0 * (i - 1), 60.0 if i >= 2 else None)
        for i in range(1, n)
    ]  # fmt: skip


def first_order(seq: list[str], rng: random.Random) -> str:
    """The item after the previous one (70%), the one after that (20%), any (10%): first-order Markov exactly."""
    k = ITEMS.index(seq[-1])
    r = rng.random()
    return ITEMS[(k + 1) % 8] if r < 0.7 else ITEMS[(k + 2) % 8] if r < 0.9 else rng.choice(ITEMS)


def three_back(seq: list[str], rng: random.Random) -> str:
    """The item three steps back (70%), else any: the two previous items say nothing about it."""
    return seq[-3] if rng.random() < 0.7 else rng.choice(ITEMS)


def test_the_ranker_is_discarded_when_history_adds_nothing() -> None:
    steps = sequence_steps(8000, first_order)
    choice = select_next_action(steps)
    assert choice.kept == "markov", choice.validation
    assert set(choice.validation) == {"markov", "ranker"}  # it was trained and scored, and did not win
    assert choice.validation["ranker"] <= choice.validation["markov"] + RANKER_MARGIN


def test_the_ranker_is_kept_when_the_item_three_steps_back_decides() -> None:
    steps = sequence_steps(8000, three_back)
    train, test = steps[:6000], steps[6000:]
    choice = select_next_action(train)
    assert choice.kept == "ranker", choice.validation
    assert choice.validation["ranker"] > choice.validation["markov"] + 0.1
    assert isinstance(choice.model, NextActionRanker)
    truth = [s.item for s in test]
    ours = hit_metrics(choice.model.rank_many(test), truth)
    theirs = hit_metrics(choice.model.markov.rank_many(test), truth)  # the Markov under the ranker, alone
    assert ours["mrr"] > theirs["mrr"] + 0.1, (ours, theirs)
    assert ours["hr1"] > 0.6


def test_rank_of_one_step_matches_the_batch_and_survives_json() -> None:
    steps = sequence_steps(3000, three_back, seed=1)
    model = select_next_action(steps[:2500]).model
    assert isinstance(model, NextActionRanker)
    queries = steps[2500:2700]
    loaded = model_from_json(model_to_json(model))
    assert [model.rank(q) for q in queries] == model.rank_many(queries) == loaded.rank_many(queries)
    assert model.config()["top_k"] == loaded.config()["top_k"]


def test_evaluate_reports_the_kept_model() -> None:
    rows = []
    for day in range(1, 29):  # a tiny log: too little history for a classifier to win
        ts = f"2024-02-{day:02d}T10:00:00Z"
        rows += [("alice", ts, "app/core.py", f"c{day}"), ("alice", ts, "tests/test_core.py", f"c{day}")]
    chosen: dict[str, object] = {}
    result = _next_ext(time_split(events(rows), test_frac=0.25), chosen)
    assert set(result) == {"next_ext", "next_ext_baselines"}
    assert chosen["next_ext_model"] == {"kept": "markov", "validation_mrr": {"markov": 1.0}}  # no classifier
