"""Workflows of more than two steps on tiny hand-built streams: exact chains, support, confidence and delays."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import polars as pl
import pytest
from typer.testing import CliRunner

from floyo.cli import app
from models.findings import WorkflowsModel
from models.patterns import describe_workflow
from models.pyfunc import WorkflowsPyfunc, workflows_input
from models.workflows import WorkflowLimits, json_safe, mine_workflows
from tests.models.helpers import write_log

T0 = datetime(2024, 3, 4, 9, 0, tzinfo=UTC)


def _items(blocks: Sequence[Sequence[tuple[float, str]]], user: str = "u") -> pl.DataFrame:
    """One block of ``(seconds into the block, item)`` every 1000 s, so nothing links two blocks."""
    rows = [(user, T0 + timedelta(seconds=1000 * k + s), item) for k, block in enumerate(blocks) for s, item in block]
    return pl.DataFrame(rows, schema=["user_id", "ts", "item"], orient="row")


# A, then B (10 or 20 s later), then C (20..50 s after B) four times; once A, B and no C; once A alone
ABC = [
    [(0, "A"), (10, "B"), (30, "C")],
    [(0, "A"), (10, "B"), (40, "C")],
    [(0, "A"), (20, "B"), (60, "C")],
    [(0, "A"), (20, "B"), (70, "C")],
    [(0, "A"), (10, "B"), (500, "X")],
    [(0, "A"), (200, "X")],
]
LIMITS = WorkflowLimits(min_days=1, windows=(60.0,), min_support=3, min_confidence=0.5, min_lift=1.4)


def test_a_three_step_chain_with_its_support_confidence_lift_and_delays() -> None:
    found = mine_workflows(_items(ABC), limits=LIMITS)
    columns = ["steps", "support", "prefix_support", "windows_s", "delays_median_s", "extensions"]
    assert found.select(columns).rows() == [
        (["A", "B"], 5, 6, [60.0], [10.0], 1),  # 5 of the 6 A's; the chain below extends it
        (["A", "B", "C"], 4, 5, [60.0, 60.0], [15.0, 35.0], 0),  # 4 of those 5 went on to C
        (["B", "C"], 4, 5, [60.0], [35.0], 0),
    ]
    chain = found.row(1, named=True)
    assert (chain["a"], chain["b"], chain["window_s"], chain["n_steps"]) == ("A", "B", 60.0, 3)
    assert chain["confidence"] == pytest.approx(0.8)
    # C follows 7 of the 13 events that are not C within 60 s (3 A's and 4 B's): lift 0.8 / (7/13)
    assert chain["lift"] == pytest.approx(0.8 * 13 / 7)
    assert chain["backward"] == pytest.approx(4 / 5)  # 4 of the 5 B's are this chain's B
    assert (chain["delays_p25_s"], chain["delays_p75_s"]) == ([10.0, 20.0], [20.0, 50.0])
    assert (chain["delay_median_s"], chain["delay_p25_s"], chain["delay_p75_s"]) == (15.0, 10.0, 20.0)
    assert (chain["days"], chain["last_seen"]) == (1, T0 + timedelta(seconds=3000))
    # A then C: 3 of 6 (C came 70 s after A once), below the lift bar: a chain step is not a pair
    assert ("A", "C") not in set(found.select("a", "b").rows())


def test_max_steps_two_keeps_the_pairs() -> None:
    pairs = mine_workflows(_items(ABC), limits=WorkflowLimits(**{**LIMITS.__dict__, "max_steps": 2}))
    assert pairs.select("steps").to_series().to_list() == [["A", "B"], ["B", "C"]]


def test_a_near_certain_step_of_a_frequent_item_passes_on_conviction_with_enough_evidence() -> None:
    # C follows 2 of every 3 events anyway, so "always C" has lift 1.5 only; X→C was seen 190 times, A→C 10 times
    blocks = [[(0, "A"), (10, "C")]] * 10 + [[(0, "X"), (10, "C")]] * 190 + [[(0, "Z")]] * 100
    found = mine_workflows(_items(blocks), limits=WorkflowLimits(min_days=1, windows=(60.0,), min_support=5))
    assert found.select("a", "b", "lift", "conviction").rows() == [("X", "C", 1.5, float("inf"))]
    assert json_safe(found)["conviction"].to_list() == [None]  # JSON has no infinity


def test_a_chance_start_of_a_strong_pair_is_not_a_workflow() -> None:
    # P came before "B then C" 10 times, but B then C happened 100 times: P is no part of that workflow
    blocks = [[(0, "P"), (10, "B"), (20, "C")]] * 10 + [[(0, "B"), (10, "C")]] * 90 + [[(0, "Z")]] * 300
    limits = WorkflowLimits(min_days=1, windows=(60.0,), min_support=5)
    assert mine_workflows(_items(blocks), limits=limits)["steps"].to_list() == [["B", "C"]]
    loose = mine_workflows(
        _items(blocks), limits=WorkflowLimits(min_days=1, windows=(60.0,), min_support=5, min_backward=0)
    )
    assert ["P", "B", "C"] in loose["steps"].to_list()


def test_rank_puts_what_ends_a_longer_workflow_first() -> None:
    # six more blocks of B, then Y: after B alone Y is likely and C is not (4 of 11), after A then B C is
    model = WorkflowsModel.mine(_items([*ABC, *[[(0, "B"), (5, "Y")]] * 6]), limits=LIMITS)
    assert model.rank("u", "B") == ["Y"]
    assert model.rank("u", "B", previous="A") == ["C", "Y"]  # the workflow A→B→C
    assert model.rank("u", "B", previous="X") == ["Y"]
    old = WorkflowsModel.from_json({"workflows": [{"user_id": "u", "a": "A", "b": "B", "confidence": 0.5}]})
    assert old.rank("u", "A", previous="Z") == ["B"]  # an artifact from before chains still ranks


def test_describe_shows_every_step_with_its_window_and_delay() -> None:
    model = WorkflowsModel.mine(_items(ABC), limits=LIMITS)
    chain = next(w for w in model.workflows if w["n_steps"] == 3)
    assert describe_workflow(chain).startswith(
        "u: A -> B within 60 s (median 15 s) -> C within 60 s (median 35 s): 4 times of 5, confidence 0.80 lift 1.5"
    )


def test_pyfunc_takes_the_previous_action_when_given() -> None:
    py = WorkflowsPyfunc()
    py.model = WorkflowsModel.mine(_items([*ABC, *[[(0, "B"), (5, "Y")]] * 6]), limits=LIMITS)
    out = py.predict(None, pd.DataFrame({"user": ["u", "u"], "item": ["B", "B"], "previous": ["A", ""]}))
    assert out["ranked"].to_list() == [["C", "Y"], ["Y"]]
    assert py.predict(None, workflows_input([("u", "B", "Y")]))["ranked"].to_list() == [["Y"]]


def test_cli_prints_chains_and_their_relation_to_the_pairs(tmp_path: Path) -> None:
    rows = []
    for day in range(1, 13):  # each day: a csv, its report 40 s later, its summary 30 s after that
        d = f"2024-02-{day:02d}"
        rows += [
            ("alice", f"{d}T09:00:00Z", "data/x.csv", f"c{day}"),
            ("alice", f"{d}T09:00:40Z", "out/r.md", f"r{day}"),
        ]
        rows += [("alice", f"{d}T09:01:10Z", "out/s.txt", f"s{day}"), ("alice", f"{d}T15:00:00Z", "n.rst", f"n{day}")]
    log = write_log(tmp_path / "wf.csv.gz", rows)
    found = CliRunner().invoke(app, ["patterns", "workflows", "--events", str(log), "--json"])
    assert found.exit_code == 0, found.output
    listed = {tuple(w["steps"]): w for w in json.loads(found.stdout)}
    chain = listed[("modify:csv", "modify:md", "modify:txt")]
    assert (chain["support"], chain["prefix_support"], chain["windows_s"]) == (12, 12, [60.0, 30.0])
    assert listed[("modify:csv", "modify:md")]["extensions"] == 1  # the pair is the chain's start
    text = CliRunner().invoke(app, ["patterns", "workflows", "--events", str(log)])
    assert (
        "alice: modify:csv -> modify:md within 60 s (median 40 s) -> modify:txt within 30 s (median 30 s)"
        in text.stdout
    )


def test_a_pattern_seen_on_one_day_only_is_not_a_habit() -> None:
    blocks = [[(0.0, "A"), (10.0, "B"), (300.0, "X")]] * 12  # 12 times in one afternoon
    one_day = _items(blocks)
    limits = WorkflowLimits(windows=(60.0,), min_support=5)  # min_days 3 by default
    assert mine_workflows(one_day, limits=limits).height == 0
    assert mine_workflows(one_day, limits=WorkflowLimits(windows=(60.0,), min_support=5, min_days=1)).height == 1
    spread = one_day.with_columns(pl.col("ts") + pl.duration(days=pl.int_range(pl.len()) // 12))  # 3 days
    found = mine_workflows(spread, limits=limits)
    assert found.select("a", "b", "support", "days").rows() == [("A", "B", 12, 3)]
