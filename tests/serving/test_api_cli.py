"""``floyo suggestions list|feedback`` and ``floyo workflows list|show``: as the named user, one-line failures."""

from __future__ import annotations

import json

from sqlalchemy import Engine, text

from tests.serving.api_helpers import SuggestionFactory
from tests.utils.cli import assert_one_line_failure, invoke
from tests.utils.factories import Device, make_device


def test_list_shows_the_users_suggestions_best_first(device: Device, suggest: SuggestionFactory, engine: Engine):
    low = suggest(device.user_id, score=0.2, title="Convert notes on change")
    high = suggest(device.user_id, score=0.8, title="Build the thesis on save")
    suggest(make_device(engine).user_id, title="Someone else's")
    result = invoke("suggestions", "list", "--user", device.user)
    assert result.exit_code == 0, result.output
    assert result.stdout.index("Build the thesis on save") < result.stdout.index("Convert notes on change")
    assert "20 times on 10 days, saves about 10.0 min/week" in result.stdout
    assert high in result.stdout
    assert "Someone else's" not in result.stdout
    as_json = json.loads(invoke("suggestions", "list", "--user", device.user, "--json", "--limit", "1").stdout)
    assert [s["id"] for s in as_json["suggestions"]] == [high]
    assert as_json["ranker"] == {"name": "transparent", "version": None}
    assert low not in [s["id"] for s in as_json["suggestions"]]


def test_list_without_suggestions_says_why(device: Device):
    result = invoke("suggestions", "list", "--user", device.user)
    assert result.exit_code == 0
    assert f"no suggestions for {device.user}: no suggestions yet" in result.stdout


def test_accept_then_the_workflow_is_listed_and_shown(device: Device, suggest: SuggestionFactory, engine: Engine):
    sid = suggest(device.user_id)
    result = invoke("suggestions", "feedback", sid, "accept", "--user", device.user, "--reason", "handy")
    assert result.exit_code == 0, result.output
    with engine.connect() as conn:
        wid = conn.execute(text("SELECT workflow_id FROM suggestions WHERE id = :s"), {"s": sid}).scalar_one()
        assert (
            conn.execute(
                text("SELECT reason FROM suggestion_feedback WHERE suggestion_id = :s"), {"s": sid}
            ).scalar_one()
            == "handy"
        )
    assert result.stdout.startswith(f"accepted: workflow {wid} ")
    listed = invoke("workflows", "list", "--user", device.user)
    assert f"{wid:>6}  v1   on   Build thesis/*.tex with latexmk on save" in listed.stdout
    shown = invoke("workflows", "show", str(wid), "--user", device.user)
    assert shown.exit_code == 0
    assert f"from suggestion {sid}" in shown.stdout
    assert '"paths": [\n        "thesis/*.tex"' in shown.stdout
    assert "v1 create" in shown.stdout
    assert shown.stdout.endswith("outcome: not adopted\n")  # no device approved it, no run reported yet
    again = invoke("suggestions", "feedback", sid, "dismiss", "--user", device.user)
    assert_one_line_failure(again, "was accepted", "[already_accepted]")


def test_snooze_and_dismiss(device: Device, suggest: SuggestionFactory, engine: Engine):
    a, b = suggest(device.user_id), suggest(device.user_id)
    assert invoke("suggestions", "feedback", a, "snooze", "--days", "3", "--user", device.user).stdout.startswith(
        "snoozed for 3 days"
    )
    assert invoke("suggestions", "feedback", b, "dismiss", "--user", device.user).exit_code == 0
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT id, state FROM suggestions WHERE id IN (:a, :b)"), {"a": a, "b": b})
        states = {r.id: r.state for r in rows}
    assert states == {a: "snoozed", b: "dismissed"}


def test_failures_are_one_line(device: Device, suggest: SuggestionFactory, engine: Engine):
    theirs = suggest(make_device(engine).user_id)
    assert_one_line_failure(
        invoke("suggestions", "feedback", theirs, "accept", "--user", device.user), f"no suggestion {theirs!r}"
    )
    mine = suggest(device.user_id)
    assert_one_line_failure(
        invoke("suggestions", "feedback", mine, "dismiss", "--days", "3", "--user", device.user), "snooze only"
    )
    assert_one_line_failure(invoke("suggestions", "list", "--user", "nobody-at-all"), "no user named 'nobody-at-all'")
    assert_one_line_failure(invoke("suggestions", "list"), "--user")  # many users here: which one?
    assert_one_line_failure(invoke("workflows", "show", "999999", "--user", device.user), "no workflow 999999")
    bad_action = invoke("suggestions", "feedback", mine, "like", "--user", device.user)
    assert bad_action.exit_code == 2
    assert "Traceback" not in bad_action.output
