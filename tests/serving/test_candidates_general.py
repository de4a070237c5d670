"""Candidates generalise: habits, tools and folders the synthetic personas never have become the right suggestion."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import polars as pl
import pytest

from floyo.workflow_definition import validate_definition
from serving.candidates import mine_candidates, user_activity
from serving.suggest import build_suggestions
from tests.serving.helpers import START, daily, event, frame, noise

DAYS = 21


def _suggest(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    events = frame(rows)
    return build_suggestions(mine_candidates(events), user_activity(events))


def _top5(suggestions: list[dict[str, Any]], template: str) -> dict[str, Any]:
    top = sorted(suggestions, key=lambda s: -s["score"])[:5]
    found = [s for s in top if s["template"] == template]
    assert found, [(s["template"], s["title"]) for s in top]
    return found[0]


def _thesis(rng: random.Random) -> list[dict[str, Any]]:
    rows = noise(1, rng, DAYS, root="documents")
    for t in daily(DAYS, (2, 4), rng):
        chapter = f"thesis/ch{rng.randint(1, 6)}.tex"
        rows.append(event(1, t, "modify", chapter, root="documents"))
        rows.append(event(1, t + timedelta(seconds=rng.uniform(8, 40)), "run", "thesis", root="documents",
                          tool="latexmk", duration_s=rng.uniform(5, 20)))  # fmt: skip
    return rows


def test_modify_tex_then_latexmk_is_run_on_save() -> None:
    s = _top5(_suggest(_thesis(random.Random(1))), "run_on_save")
    assert s["title"] == "Run latexmk when you save thesis/*.tex"
    first, run = s["pattern"]["steps"]
    assert (first["action"], first["glob"], first["root"]) == ("modify", "thesis/*.tex", "documents")
    assert run["tool"] == "latexmk"
    assert 8 <= run["delay_median_s"] <= 40
    assert run["delay_p90_s"] >= run["delay_median_s"]
    assert s["evidence"]["occurrences"] >= 40
    assert s["evidence"]["days"] == DAYS
    assert 1 <= len(s["evidence"]["examples"]) <= 5
    trigger, action = s["workflow"]["triggers"][0], s["workflow"]["actions"][0]
    assert (trigger["root"], trigger["paths"], trigger["events"]) == ("documents", ["thesis/*.tex"], ["modify"])
    assert action["command"] == ["latexmk"]
    assert action["args_from_history"] is True
    assert action["cwd"] == "thesis"
    assert validate_definition(s["workflow"]) == s["workflow"]
    # savings measured: the delay and the run's duration are this person's, the effort is the catalog's
    saved = s["savings"]
    assert saved["seconds_per_occurrence"] > 6.5 + 8
    assert "median delay to the run" in saved["basis"]
    assert "median run" in saved["basis"]
    assert saved["minutes_per_week"] == pytest.approx(
        saved["occurrences_per_week"] * saved["seconds_per_occurrence"] / 60, abs=0.1
    )


def test_scans_ocr_is_convert_on_change() -> None:
    rng = random.Random(2)
    rows = noise(1, rng, DAYS)
    for t in daily(DAYS, (1, 3), rng):
        page = f"scan{rng.randint(1, 99)}"
        rows.append(event(1, t, "create", f"scans/{page}.png"))
        t2 = t + timedelta(seconds=rng.uniform(3, 30))
        rows.append(event(1, t2, "run", "scans", tool="tesseract", duration_s=rng.uniform(2, 6)))
        rows.append(event(1, t2 + timedelta(seconds=rng.uniform(2, 8)), "create", f"scans/{page}.txt"))
    s = _top5(_suggest(rows), "convert_on_change")
    assert s["title"] == "Convert scans/*.png to scans/*.txt with tesseract"
    assert [st["action"] for st in s["pattern"]["steps"]] == ["create", "run", "create"]
    assert s["workflow"]["actions"][0]["writes"] == ["scans/*.txt"]
    assert s["workflow"]["triggers"][0]["events"] == ["create"]
    assert not any(x["template"] == "run_on_save" and "tesseract" in x["title"] for x in _suggest(rows))


def test_a_long_cargo_build_is_notify_long_run() -> None:
    rng = random.Random(3)
    rows = noise(1, rng, DAYS, root="code")
    for t in daily(DAYS, (1, 2), rng):
        rows.append(event(1, t, "run", "rust/app", root="code", tool="cargo", duration_s=rng.uniform(180, 480),
                          meta={"subcommand": "build"}))  # fmt: skip
    s = _top5(_suggest(rows), "notify_long_run")
    assert s["title"] == "Tell me when cargo build finishes"
    step = s["pattern"]["steps"][0]
    assert 180 <= step["duration_median_s"] <= 480
    assert s["workflow"]["actions"][0]["command"] == ["cargo"]
    assert s["workflow"]["actions"][1]["type"] == "notify"
    assert s["workflow"]["actions"][0]["timeout_s"] >= 480


def test_a_nightly_backup_script_is_a_scheduled_job() -> None:
    rng = random.Random(4)
    rows = noise(1, rng, DAYS)
    for d in range(DAYS):
        t = START + timedelta(days=d, hours=2, minutes=rng.uniform(-8, 8))
        rows.append(event(1, t, "run", "bin", tool="backup.sh", duration_s=rng.uniform(30, 90)))
    s = _top5(_suggest(rows), "scheduled_job")
    assert s["title"] == "Run backup.sh every day at 02:00"
    assert s["workflow"]["triggers"] == [{"type": "schedule", "cron": "0 2 * * *"}]
    assert s["evidence"]["days"] == DAYS
    assert s["confidence"] == 1.0
    # noise tools run all day long are no schedule
    assert [x["title"] for x in _suggest(rows) if x["template"] == "scheduled_job"] == [s["title"]]


def test_what_a_workflow_ran_is_no_habit_to_suggest_again() -> None:
    """The agent's runs of an adopted workflow (``meta.workflow_id``) are left out of the mining: a scheduled
    workflow's nightly runs, or the runs after each save, must not come back as suggestions."""
    rng = random.Random(4)
    rows = noise(1, rng, DAYS)
    nightly = [START + timedelta(days=d, hours=2, minutes=rng.uniform(-8, 8)) for d in range(DAYS)]
    by_hand = [event(1, t, "run", "bin", tool="backup.sh", duration_s=40) for t in nightly]
    assert any(s["template"] == "scheduled_job" for s in _suggest(rows + by_hand))  # the test could fail
    meta = {"workflow_id": 3, "workflow_version": 1, "outcome": "ok", "run_id": "r"}
    by_agent = [event(1, t, "run", "bin", tool="backup.sh", duration_s=40, meta=meta) for t in nightly]
    assert not [s for s in _suggest(rows + by_agent) if "backup.sh" in s["title"]]


@pytest.mark.parametrize("commit", [{"subcommand": "commit"}, None])
def test_tests_then_git_commit_is_test_before_commit(commit: dict[str, str] | None) -> None:
    rng = random.Random(5)
    rows = noise(1, rng, DAYS, root="code")
    for t in daily(DAYS, (1, 3), rng):
        rows.append(event(1, t, "run", "", root="code", tool="pytest", duration_s=rng.uniform(3, 30)))
        rows.append(event(1, t + timedelta(seconds=rng.uniform(10, 50)), "run", "", root="code", tool="git",
                          duration_s=0.3, meta=commit))  # fmt: skip
    s = _top5(_suggest(rows), "test_before_commit")
    assert s["title"] == "Run pytest before every git commit"
    assert s["workflow"]["actions"][0]["command"] == ["pytest"]
    assert s["pattern"]["steps"][1]["tool"] == ("git commit" if commit else "git")


def _habit(
    kind: str, path: Callable[[int], str], then: Callable[[int], dict[str, Any]], seed: int
) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    rows = noise(1, rng, DAYS)
    for t in daily(DAYS, (1, 3), rng):
        n = rng.randint(1, 500)
        rows.append(event(1, t, kind, path(n)))
        rows.append({**then(n), "ts": t + timedelta(seconds=rng.uniform(5, 40))})
    return rows


def test_rsync_after_changes_is_backup_folder_and_a_copy_too() -> None:
    rows = _habit(
        "modify", lambda n: f"photos/p{n}.jpg", lambda n: event(1, START, "run", "", tool="rsync", duration_s=12), 6
    )
    s = _top5(_suggest(rows), "backup_folder")
    assert s["title"] == "Back up photos/ when it changes"
    assert s["workflow"]["actions"][0]["command"] == ["rsync"]
    copies = _habit("modify", lambda n: f"work/r{n}.xlsx", lambda n: event(1, START, "create", f"usb/r{n}.xlsx"), 7)
    c = _top5(_suggest(copies), "backup_folder")
    assert c["workflow"]["actions"] == [{"type": "copy", "dest": "usb/{trigger.name}"}]
    assert c["workflow"]["triggers"][0]["paths"] == ["work/*.xlsx"]


def test_downloads_of_any_kind_to_any_folder_are_filed() -> None:
    rows = _habit("create", lambda n: f"Downloads/invoice{n}.zip",
                  lambda n: event(1, START, "move", f"Downloads/invoice{n}.zip", dest=f"My Archive/2026/invoice{n}.zip"), 8)  # fmt: skip
    s = _top5(_suggest(rows), "file_downloads")
    assert s["title"] == "File new Downloads/*.zip into My Archive/2026/"
    assert s["workflow"]["actions"] == [{"type": "move", "dest": "My Archive/2026/{trigger.name}"}]
    assert s["pattern"]["steps"][1]["dest"] == "My Archive/2026/"
    # never a raw file name: globs and destinations are folders and kinds
    text = repr([x["pattern"] for x in _suggest(rows)]) + repr([x["workflow"] for x in _suggest(rows)])
    assert "invoice" not in text


def test_ids_are_stable_and_per_user() -> None:
    rows = _thesis(random.Random(1))
    again = _suggest(rows)
    assert [s["id"] for s in _suggest(rows)] == [s["id"] for s in again]
    other = [{**r, "user_id": 2} for r in rows]
    assert not {s["id"] for s in again} & {s["id"] for s in _suggest(other)}
    assert all(s["id"].startswith("s_") and len(s["id"]) == 18 for s in again)


def test_a_pattern_on_too_few_days_is_not_a_candidate() -> None:
    rng = random.Random(9)
    rows = noise(1, rng, DAYS)
    for t in daily(2, (8, 8), rng):  # one afternoon's bulk work on two days
        rows.append(event(1, t, "modify", "thesis/a.tex"))
        rows.append(event(1, t + timedelta(seconds=10), "run", "", tool="latexmk"))
    assert not [s for s in _suggest(rows) if "latexmk" in s["title"]]


def test_no_events_no_candidates() -> None:
    empty = frame([])
    assert mine_candidates(empty).is_empty()
    assert build_suggestions(mine_candidates(empty), user_activity(empty)) == []
    assert pl.DataFrame().is_empty()
