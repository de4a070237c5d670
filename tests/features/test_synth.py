"""The synthetic personas: deterministic, and the ground truth says exactly what was planted."""

from __future__ import annotations

import itertools
from datetime import date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from features.dfg import dfg
from features.sequences import action
from features.sessions import assign_sessions
from features.synth import PERSONAS, WORKFLOWS, SynthData, generate

END = date(2026, 11, 20)


@pytest.fixture(scope="module")
def data() -> SynthData:
    return generate(personas=10, days=28, seed=42, end=END)


def _frame(data: SynthData) -> pl.LazyFrame:
    rows = [
        {"user_id": i, "ts": datetime.fromisoformat(e["ts"]), "kind": e["kind"], "root": e["root"], "path": e["path"],
         "ext": e["path"].rpartition(".")[2].lower() if "." in e["path"].rpartition("/")[2] else "",
         "tool": e.get("tool"), "event_id": e["event_id"]}
        for i, u in enumerate(data.users) for e in u.events
    ]  # fmt: skip
    return pl.LazyFrame(rows).with_columns(seq=pl.int_range(pl.len(), dtype=pl.Int64))


def test_same_seed_same_events_other_seed_other_events(data: SynthData) -> None:
    again = generate(personas=10, days=28, seed=42, end=END)
    assert [u.events for u in again.users] == [u.events for u in data.users]
    assert again.truth == data.truth
    other = generate(personas=10, days=28, seed=43, end=END)
    assert [u.events for u in other.users] != [u.events for u in data.users]


def test_personas_cycle_and_events_stay_in_the_window(data: SynthData) -> None:
    assert [u.persona for u in data.users[:5]] == list(PERSONAS)
    assert len({u.name for u in data.users}) == 10
    for user in data.users:
        stamps = [e["ts"] for e in user.events]
        assert stamps == sorted(stamps)
        assert stamps[0] >= (END - timedelta(days=28)).isoformat()
        assert stamps[-1] < END.isoformat()
    assert data.truth["n_events"] == data.n_events > 3000


def test_ground_truth_instances_are_exactly_the_planted_events(data: SynthData) -> None:
    by_id = {e["event_id"]: (u, e) for u in data.users for e in u.events}
    workflows = {wf.name: wf for wf in WORKFLOWS}
    acted = _frame(data).with_columns(action=action()).collect()
    tokens = dict(zip(acted["event_id"], acted["action"], strict=True))
    assert data.truth["instances"]
    for user_name, wf_name, first_ts, ids in data.truth["instances"]:
        wf = workflows[wf_name]
        owners = {by_id[i][0].name: by_id[i][0].persona for i in ids}
        assert list(owners) == [user_name]
        assert owners[user_name] in wf.personas
        assert [tokens[i] for i in ids] == wf.pattern
        stamps = [datetime.fromisoformat(by_id[i][1]["ts"]) for i in ids]
        assert stamps[0].isoformat() == first_ts
        for step, (a, b) in zip(wf.steps[1:], itertools.pairwise(stamps), strict=True):
            assert step.delay[0] <= (b - a).total_seconds() <= step.delay[1]
        if wf.weekdays_only:
            assert stamps[0].weekday() < 5
    counted = {wf["name"]: sum(wf["instances_by_user"].values()) for wf in data.truth["workflows"]}
    assert counted == {name: sum(1 for i in data.truth["instances"] if i[1] == name) for name in workflows}
    assert all(counted.values())


def test_part_time_workflows_skip_some_days(data: SynthData) -> None:
    days_with: dict[tuple[str, str], set[str]] = {}
    for user_name, wf_name, first_ts, _ in data.truth["instances"]:
        days_with.setdefault((user_name, wf_name), set()).add(first_ts[:10])
    active = {u.name: {e["ts"][:10] for e in u.events} for u in data.users}
    papers = [len(d) / len(active[u]) for (u, wf), d in days_with.items() if wf == "pdf_to_papers"]
    assert papers
    assert max(papers) < 0.8


def test_planted_workflows_show_up_in_the_directly_follows_graph(data: SynthData) -> None:
    graph = dfg(assign_sessions(_frame(data))).collect()
    edges = {(r["source"], r["target"]): r["count"] for r in graph.to_dicts()}
    for wf in data.truth["workflows"]:
        planted = sum(wf["instances_by_user"].values())
        first_edge = (wf["pattern"][0], wf["pattern"][1])
        # noise may fall between two steps (a 1-3 min gap is long), but the pair must stay visible
        assert edges.get(first_edge, 0) >= 0.15 * planted, (wf["name"], edges.get(first_edge), planted)


def test_csv_log_round_trips_through_features_logs(data: SynthData, tmp_path: Path) -> None:
    from features.logs import read_csv_log
    from floyo.demo_data import write_csv

    summary = write_csv(data, tmp_path / "synth.csv.gz")
    assert summary.truth == tmp_path / "synth.truth.json"
    back = read_csv_log(tmp_path / "synth.csv.gz").collect()
    assert back.height == data.n_events
    runs = back.filter(pl.col("kind") == "run")
    expected_runs = sorted(e["tool"] for u in data.users for e in u.events if e["kind"] == "run")
    assert sorted(runs["tool"].to_list()) == expected_runs
    assert set(back["kind"].unique()) == {e["kind"] for u in data.users for e in u.events}
    assert back["user_id"].n_unique() == len(data.users)
