"""Sequence models on tiny hand-built event streams: workflows "A then B within N s" and next-action steps."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from models.next_action import NextActionModel, steps_from_items
from models.workflows import WorkflowLimits, action_items, mine_workflows, occurrences

T0 = datetime(2024, 3, 4, 9, 0, tzinfo=UTC)


def _items(rows: Sequence[tuple[str, float, str]]) -> pl.DataFrame:
    """``(user, seconds after T0, item)`` rows."""
    return pl.DataFrame(
        {
            "user_id": [r[0] for r in rows],
            "ts": [T0 + timedelta(seconds=r[1]) for r in rows],
            "item": [r[2] for r in rows],
        }
    )


CLEANING = [  # u1 saves a csv and runs clean.py 60, 90 and 30 s later; the 4th run is not preceded by a csv
    ("u1", 0, "modify:csv"), ("u1", 60, "run:clean.py"),
    ("u1", 1000, "modify:csv"), ("u1", 1090, "run:clean.py"),
    ("u1", 2000, "modify:csv"), ("u1", 2030, "run:clean.py"),
    ("u1", 3000, "modify:md"), ("u1", 5000, "run:clean.py"),
    ("u2", 0, "modify:csv"), ("u2", 10, "run:clean.py"),  # u2 did it once: not a workflow
]  # fmt: skip


def test_workflow_support_confidence_lift_and_delays() -> None:
    found = mine_workflows(
        _items(CLEANING), limits=WorkflowLimits(min_days=1, windows=(120.0,), min_support=3, min_lift=1.0)
    )
    assert found.select("user_id", "a", "b").rows() == [("u1", "modify:csv", "run:clean.py")]
    row = found.row(0, named=True)
    assert row["support"] == 3
    assert row["confidence"] == 1.0  # every csv save was followed by clean.py
    # clean.py follows 3 of u1's 4 events that are not clean.py within 2 min: lift = 1 / (3/4)
    assert row["lift"] == pytest.approx(4 / 3)
    assert (row["delay_p25_s"], row["delay_median_s"], row["delay_p75_s"]) == (30.0, 60.0, 90.0)
    assert row["days"] == 1
    assert row["last_seen"] == T0 + timedelta(seconds=2000)


def test_window_and_lookahead_bound_the_occurrences() -> None:
    rows = [("u", 0, "A"), ("u", 10, "X"), ("u", 20, "B"), ("u", 500, "B")]
    occ = occurrences(_items(rows), limits=WorkflowLimits(min_days=1, windows=(60.0,), lookahead=5))
    assert sorted(occ.select("a", "b", "delay_s").rows()) == [("A", "B", 20.0), ("A", "X", 10.0), ("X", "B", 10.0)]
    short = occurrences(_items(rows), limits=WorkflowLimits(min_days=1, windows=(60.0,), lookahead=1))
    assert sorted(short.select("a", "b").rows()) == [("A", "X"), ("X", "B")]


def test_a_frequent_consequent_has_low_lift() -> None:
    # 'save' is followed by 'sync' 3 times in 3, but 'sync' follows nearly everything: lift stays near 1
    rows = []
    for k in range(3):
        rows += [
            ("u", 100 * k, "save"),
            ("u", 100 * k + 5, "sync"),
            ("u", 100 * k + 10, "x"),
            ("u", 100 * k + 15, "sync"),
        ]
    found = mine_workflows(
        _items(rows), limits=WorkflowLimits(min_days=1, windows=(30.0,), min_support=3, min_lift=0.0)
    )
    lifts = {(a, b): lift for a, b, lift in found.select("a", "b", "lift").rows()}
    # sync follows all 6 events that are not sync (3 saves, 3 x): base rate 6/6, so lift = 1/1
    assert lifts[("save", "sync")] == pytest.approx(1.0)
    assert lifts[("x", "sync")] == pytest.approx(1.0)
    filtered = mine_workflows(
        _items(rows), limits=WorkflowLimits(min_days=1, windows=(30.0,), min_support=3, min_lift=1.5)
    )
    assert ("save", "sync") not in set(filtered.select("a", "b").rows())


def test_action_items_name_runs_by_tool_and_edits_by_kind_and_ext() -> None:
    events = pl.DataFrame(
        {
            "user_id": ["u", "u", "u"],
            "ts": [T0, T0, T0],
            "kind": ["modify", "run", "create"],
            "ext": ["csv", "", ""],
            "tool": [None, "pytest", None],
        }
    )
    assert action_items(events)["item"].to_list() == ["modify:csv", "run:pytest", "create:(none)"]


def test_steps_from_items_and_next_action_per_user() -> None:
    rows = [("u1", 0, "edit"), ("u2", 1, "edit"), ("u1", 2, "pytest"), ("u2", 3, "commit"), ("u1", 4, "edit")]
    steps = steps_from_items(_items(rows))
    assert [(s.user, s.prev2, s.prev, s.item, s.when) for s in steps] == [
        ("u1", None, "edit", "pytest", 2),
        ("u1", "edit", "pytest", "edit", 4),
        ("u2", None, "edit", "commit", 3),
    ]
    model = NextActionModel(weights={"user": 1.0, "global": 0.5}, half_life=None).fit(steps)
    assert model.rank(steps[0])[0] == "pytest"  # u1 runs pytest after editing
    assert model.rank(steps[2])[0] == "commit"  # u2 commits: the user's own habit wins


def test_each_workflow_keeps_the_window_where_it_stands_out() -> None:
    rows = []
    for k in range(4):  # A, then B 10 s later; later in the block X, then B again 50 s after X
        rows += [
            ("u", 1000 * k, "A"),
            ("u", 1000 * k + 10, "B"),
            ("u", 1000 * k + 100, "X"),
            ("u", 1000 * k + 150, "B"),
        ]
    limits = WorkflowLimits(min_days=1, windows=(30.0, 300.0), min_support=3, min_confidence=0.5, min_lift=1.6)
    found = mine_workflows(_items(rows), limits=limits)
    # within 30 s only A is followed by B: base 4 of the 8 non-B events, lift 1 / (4/8) = 2;
    # within 300 s X is followed by B too: base 8/8, lift 1, so A→B is reported with its 30 s window
    assert found.select("a", "b", "window_s", "support", "lift").rows() == [("A", "B", 30.0, 4, 2.0)]
