"""The evaluation protocol and the models on tiny hand-built logs whose answers are worked out by hand."""

from __future__ import annotations

from typing import Any

import pytest

from models.baselines import Markov1, MostPopular, PairwiseRules
from models.cochange import CoChangeModel
from models.next_action import NextActionModel
from models.protocol import Step, cochange_data, hit_metrics, next_item_steps, recall_metrics, time_split
from models.tuning import tune_cochange
from tests.models.helpers import events

ROWS = [  # (user, ts, path, commit), in file order
    ("u1", "2024-01-01T10:00:00Z", "a.py", "c1"),
    ("u1", "2024-01-01T10:00:00Z", "docs/a.md", "c1"),
    ("u2", "2024-01-02T10:00:00Z", "b.py", "c2"),
    ("u1", "2024-01-02T10:00:00Z", "a.py", "c3"),  # same time as c2: file order breaks the tie
    ("u2", "2024-01-03T10:00:00Z", "b.py", "c4"),
    ("u2", "2024-01-03T10:00:00Z", "Makefile", "c4"),
]


def test_time_split_orders_by_first_row_and_file_order() -> None:
    split = time_split(events(ROWS), test_frac=0.25)
    assert split.groups == ["c1", "c2", "c3", "c4"]
    assert (split.train, split.test) == (["c1", "c2", "c3"], ["c4"])


def test_next_item_steps_split_transitions_by_the_next_events_commit() -> None:
    train, queries = next_item_steps(time_split(events(ROWS), test_frac=0.25))
    # u1: a.py→a.md (c1), a.md→a.py (c3); u2: b.py→b.py (c4), b.py→Makefile (c4)
    assert [(s.user, s.prev, s.item) for s in train] == [("u1", "py", "md"), ("u1", "md", "py")]
    assert [(s.prev, s.prev_dir, s.prev2, s.item) for s in queries] == [
        ("py", "", None, "py"),
        ("py", "", "py", "(none)"),
    ]


def test_cochange_queries_hide_each_item_once() -> None:
    train, queries = cochange_data(time_split(events(ROWS), test_frac=0.25), "path")
    assert list(train) == [(0, ["a.py", "docs/a.md"]), (1, ["b.py"]), (2, ["a.py"])]
    assert queries == [(["Makefile"], "b.py"), (["b.py"], "Makefile")]
    _, ext_queries = cochange_data(time_split(events(ROWS), test_frac=0.25), "ext")
    assert ext_queries == [(["(none)"], "py"), (["py"], "(none)")]


def test_metrics_by_hand() -> None:
    ranked = [["a", "b", "c"], ["b", "a"], [], ["x", "y", "z", "w", "v", "t"]]
    truth = ["a", "a", "a", "t"]
    hits = hit_metrics(ranked, truth)
    assert hits == {
        "hr1": 0.25,
        "hr3": 0.5,
        "hr5": 0.5,
        "mrr": pytest.approx((1 + 1 / 2 + 1 / 6) / 4),
        "coverage": 0.75,
        "n": 4,
    }
    assert recall_metrics(ranked, truth)["r10"] == 0.75


def _step(user: str, prev: str, item: str = "?", when: int = 0, prev_dir: str = "") -> Step:
    return Step(user, prev, prev_dir, None, item, when)


def test_markov1_backs_off_to_popularity_and_per_user_comes_first() -> None:
    train = [_step("u1", "py", "md"), _step("u2", "py", "rst"), _step("u2", "py", "rst"), _step("u1", "md", "py")]
    popular = MostPopular(["py", "py", "py", "md", "rst"])
    assert popular.ranking == ["py", "md", "rst"]
    assert Markov1(train, popular).rank(_step("u1", "py")) == ["rst", "md", "py"]
    assert Markov1(train, popular).rank(_step("u1", "txt")) == ["py", "md", "rst"]
    assert Markov1(train, popular, per_user=True).rank(_step("u1", "py")) == ["md", "rst", "py"]


def test_pairwise_rules_best_confidence_then_support_then_name() -> None:
    transactions = [["a", "b"], ["a", "b"], ["a", "c"], ["a", "c"], ["a", "d"], ["d", "e"], ["d", "e"]]
    rules = PairwiseRules(transactions)  # a→b 2/5, a→c 2/5, a→d 1/5 (support 1: dropped), d→e 2/3, d→a dropped
    assert rules.rank(["a"]) == ["b", "c"]
    assert rules.rank(["a", "d"]) == ["e", "b", "c"]
    assert rules.rank(["z"]) == []


def test_cochange_model_combines_evidence_by_noisy_or() -> None:
    model = CoChangeModel(half_life=None, min_support=1, smoothing=0.0, pair_antecedents=False)
    model.fit(enumerate([["a", "c"], ["a", "x"], ["b", "c"], ["b", "y"]]))
    scores = model.scores(["a", "b"])
    # c: 1 - (1 - 1/2)(1 - 1/2) = 3/4 ; x and y: 1/2 each; the baseline would tie c with x and y
    assert scores == pytest.approx({"c": 0.75, "x": 0.5, "y": 0.5})
    assert model.rank(["a", "b"]) == ["c", "x", "y"]


def test_cochange_model_recency_and_pair_antecedents() -> None:
    recent = CoChangeModel(half_life=1.0, min_support=1, smoothing=0.0, pair_antecedents=False)
    recent.fit([(0, ["a", "old"]), (1, ["a", "old"]), (2, ["a", "new"])])
    # weights 1/8, 1/4 for 'old', 1/2 for 'new'; a's weight is 7/8
    assert recent.scores(["a"]) == pytest.approx({"old": 3 / 7, "new": 4 / 7})
    pairs = CoChangeModel(half_life=None, min_support=1, smoothing=0.0, pair_antecedents=True)
    pairs.fit(enumerate([["a", "b", "c"], ["a", "d"], ["b", "d"], ["a", "b", "c"]]))
    # a→c 2/3, b→c 2/3, {a,b}→c 2/2 = 1: c is certain; d: a→d 1/3, b→d 1/3
    assert pairs.scores(["a", "b"])["c"] == pytest.approx(1.0)
    assert pairs.scores(["a", "b"])["d"] == pytest.approx(1 - (2 / 3) ** 2)


def test_next_action_model_interpolates_and_backs_off() -> None:
    train = [_step("u1", "py", "md"), _step("u2", "py", "rst"), _step("u2", "py", "rst"), _step("u1", "md", "py")]
    model = NextActionModel(weights={"user": 1.0, "global": 1.0}, half_life=None).fit(train)
    # u1 after py: user context {md: 1}, global {rst: 2/3, md: 1/3} -> md 4/3, rst 2/3
    assert model.scores(_step("u1", "py")) == pytest.approx({"md": 4 / 3, "rst": 2 / 3})
    # a new user backs off to the global context alone
    assert model.rank(_step("u9", "py")) == ["rst", "md"]
    assert model.rank(_step("u9", "unseen")) == []


def test_tuning_picks_recency_when_habits_drift() -> None:
    # 'a' went with 'old' for a long time, then switched to 'new': only a decaying model gets the tail right
    transactions = [(t, ["a", "old"]) for t in range(40)] + [(t, ["a", "new"]) for t in range(40, 60)]
    grid: list[dict[str, Any]] = [{"half_life": None, "min_support": 1}, {"half_life": 5.0, "min_support": 1}]
    model = tune_cochange(transactions, grid=grid)
    assert model.half_life == 5.0
    assert model.rank(["a"])[0] == "new"
