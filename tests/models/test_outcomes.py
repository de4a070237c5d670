"""Outcomes of adopted workflows on hand-built histories: manual occurrences, Poisson rates, minutes saved, verdicts."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from models.outcomes import Adopted, manual_occurrences, measure, measure_all, poisson_rate
from tests.models.outcome_history import SECONDS, STEPS, agent_run, event, frame, history

ADOPTED = datetime(2026, 11, 2, 0, 0, tzinfo=UTC)  # a Monday
NOW = ADOPTED + timedelta(days=21)


def _adopted(steps: list[dict[str, Any]] | None = STEPS, workflow_id: int = 7) -> Adopted:
    return Adopted(workflow_id, 1, ADOPTED, steps, SECONDS if steps else None, "run_on_save")


def test_poisson_rates_have_garwoods_exact_interval():
    none = poisson_rate(0, 1.0)
    assert none is not None
    assert (none.per_week, none.low) == (0.0, 0.0)
    assert none.high == pytest.approx(-math.log(0.025), abs=1e-3)  # 3.689: the classic "rule of 3.7"
    ten = poisson_rate(10, 2.0)
    assert ten is not None
    assert ten.per_week == 5.0
    assert ten.low == pytest.approx(4.795 / 2, abs=1e-3)
    assert ten.high == pytest.approx(18.39 / 2, abs=1e-2)
    assert poisson_rate(3, 0.0) is None


def test_a_manual_occurrence_is_the_trigger_then_the_action_by_hand_within_the_window():
    t = ADOPTED
    events = [
        event(t, "modify", path="thesis/a.tex"), event(t + timedelta(seconds=20), "run", path="thesis", tool="latexmk"),
        # too late: outside the 60 s window
        event(t + timedelta(hours=1), "modify", path="thesis/a.tex"),
        event(t + timedelta(hours=1, seconds=90), "run", path="thesis", tool="latexmk"),
        # run by the workflow: not by hand
        event(t + timedelta(hours=2), "modify", path="thesis/b.tex"), agent_run(7, t + timedelta(hours=2, seconds=3)),
        # another folder, another extension, another root: not the trigger
        event(t + timedelta(hours=3), "modify", path="blog/a.tex"),
        event(t + timedelta(hours=3, seconds=5), "modify", path="thesis/a.md"),
        event(t + timedelta(hours=3, seconds=6), "modify", path="thesis/a.tex", root="projects"),
        event(t + timedelta(hours=3, seconds=20), "run", path="thesis", tool="latexmk"),
        # a run without a save before it
        event(t + timedelta(hours=4), "run", path="thesis", tool="latexmk"),
        event(t + timedelta(hours=5), "modify", path="thesis/c.TEX"),
        event(t + timedelta(hours=5, seconds=59), "run", path="thesis", tool="latexmk"),
    ]  # fmt: skip
    found = manual_occurrences(frame(events), STEPS).to_list()
    assert found == [t + timedelta(seconds=20), t + timedelta(hours=5, seconds=59)]


def test_a_three_step_conversion_and_a_subcommand_are_matched_step_by_step():
    steps: list[dict[str, Any]] = [
        {"action": "modify", "glob": "blog/*.md", "root": "documents"},
        {"action": "run", "tool": "git commit", "window_s": 30},
        {"action": "create", "glob": "site/*.html", "root": "documents", "window_s": 30},
    ]
    t = ADOPTED
    commit = {"subcommand": "commit"}
    events = [
        event(t, "modify", path="blog/p.md"), event(t + timedelta(seconds=10), "run", tool="git", meta=commit, path=""),
        event(t + timedelta(seconds=20), "create", path="site/p.html"),
        # the middle step missing (git push, not commit): no occurrence
        event(t + timedelta(hours=1), "modify", path="blog/p.md"),
        event(t + timedelta(hours=1, seconds=10), "run", tool="git", meta={"subcommand": "push"}, path=""),
        event(t + timedelta(hours=1, seconds=20), "create", path="site/p.html"),
    ]  # fmt: skip
    assert manual_occurrences(frame(events), steps).to_list() == [t + timedelta(seconds=20)]


def test_fewer_manual_runs_after_adoption_is_a_measured_saving_with_an_interval():
    body = measure(frame(history(7, ADOPTED)), _adopted(), NOW)
    before, after = body["manual_before"], body["manual_after"]
    assert before["count"] == 60  # 3 weeks x 5 workdays x 4 saves, each followed by latexmk by hand
    assert before["per_week"] == pytest.approx(20, rel=0.05)
    assert 5 <= after["count"] <= 20  # about a fifth of the 60 saves after adoption still get a manual run
    assert before["low"] > after["high"]  # the drop is beyond chance
    assert (body["runs"], body["ok_runs"], body["failures"]) == (60, 60, 0)
    drop = before["per_week"] - after["per_week"]
    assert body["minutes_per_week"] == pytest.approx(min(body["ok_runs_per_week"], drop) * SECONDS / 60, abs=0.01)
    assert 0 < body["minutes_per_week_low"] < body["minutes_per_week"] < body["minutes_per_week_high"]
    assert body["verdict"] == "saving"
    assert body["message"].startswith(f"saving {body['minutes_per_week']:.1f} min/week (95% interval")
    assert body["minutes_saved"] == pytest.approx(body["minutes_per_week"] * after["weeks"], abs=0.1)


def test_a_saving_never_exceeds_what_the_workflow_ran():
    """A person who stopped the pattern for another reason: the drop is bounded by the workflow's ok runs."""
    events = [e for e in history(7, ADOPTED, manual_after=0.0) if not (e.get("meta") and e["ts"] > "2026-11-05")]
    body = measure(frame(events), _adopted(), NOW)
    assert body["ok_runs"] == 12  # only the first 3 days' runs
    assert body["minutes_per_week"] == pytest.approx(body["ok_runs_per_week"] * SECONDS / 60, abs=0.01)
    assert body["verdict"] == "unused"  # and none in the last 14 days: it could go


def test_a_holiday_is_not_disuse():
    """Nothing at all for 15 days after three weeks of use: the verdict is judged on the days the person was seen."""
    body = measure(frame(history(7, ADOPTED)), _adopted(), NOW + timedelta(days=15))
    assert body["days_since_adoption"] == 36.0
    assert body["verdict"] == "saving"
    assert body == {**measure(frame(history(7, ADOPTED)), _adopted(), NOW), "days_since_adoption": 36.0}


def test_a_workflow_that_never_runs_is_unused_and_could_go():
    body = measure(frame(history(8, ADOPTED, runs=False, manual_after=1.0)), _adopted(workflow_id=8), NOW)
    assert (body["runs"], body["ok_runs"]) == (0, 0)
    assert body["manual_after"]["count"] == body["manual_before"]["count"] == 60  # the same habit, by hand
    assert body["minutes_per_week"] == 0
    assert body["verdict"] == "unused"
    assert body["message"] == "unused: no successful run in the last 14 days; it could go"


def test_before_two_weeks_it_is_measuring_and_failures_are_counted():
    events = history(7, ADOPTED, days_after=5)
    events += [agent_run(7, ADOPTED + timedelta(days=1, hours=h), "failed") for h in (1, 2)]
    events.append(agent_run(7, ADOPTED + timedelta(days=1, hours=3), "cancelled"))
    body = measure(frame(events), _adopted(), ADOPTED + timedelta(days=5))
    assert body["verdict"] == "measuring"
    # seen until the 5th day's last save (4.6 days after adoption): the verdict needs 14 days of the person's activity
    assert body["observed_days"] == 4.6
    assert body["message"] == "measuring: a verdict in 10 days"
    assert (body["failures"], body["runs"] - body["ok_runs"]) == (2, 3)


def test_it_runs_but_the_manual_pattern_did_not_drop_and_one_made_by_hand_is_used():
    events = history(7, ADOPTED, manual_after=1.0)
    body = measure(frame(events), _adopted(), NOW)
    assert body["verdict"] == "no_saving"
    assert body["message"].endswith("but you still do it by hand as often as before")
    by_hand = measure(frame(events), _adopted(steps=None), NOW)
    assert (by_hand["verdict"], by_hand["manual_before"], by_hand["minutes_per_week"]) == ("used", None, None)
    assert by_hand["message"].startswith(f"runs {by_hand['ok_runs_per_week']:.1f} times a week")


def test_each_workflow_is_measured_on_its_own_persons_events():
    mine = frame(history(7, ADOPTED), user_id=1)
    theirs = frame(history(9, ADOPTED, runs=False), user_id=2)
    other = Adopted(9, 2, ADOPTED, STEPS, SECONDS, "run_on_save")
    nobody = Adopted(10, 3, ADOPTED, STEPS, SECONDS, "run_on_save")  # never seen since: no verdict yet
    import polars as pl

    bodies = measure_all(pl.concat([mine, theirs]), [_adopted(), other, nobody], NOW)
    assert [(b["workflow_id"], b["user_id"], b["verdict"]) for b in bodies] == [
        (7, 1, "saving"), (9, 2, "unused"), (10, 3, "measuring"),
    ]  # fmt: skip
    assert bodies[2]["manual_before"] is None  # no time observed before adoption: no rate
