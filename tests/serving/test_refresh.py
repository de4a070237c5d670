"""The refresh on a real PostgreSQL: ids stable, states and feedback survive, vanished patterns become inactive
(never deleted), the state's version moves, a user with too little activity is told how much is needed."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import polars as pl
from sqlalchemy import Engine, text

from serving.refresh import NEEDED_DAYS, NEEDED_EVENTS, refresh_suggestions
from tests.serving.helpers import START, event, frame, person
from tests.utils.factories import make_device


def _rows(engine: Engine, user: int) -> dict[str, dict[str, Any]]:
    with engine.connect() as conn:
        found = conn.execute(text("SELECT * FROM suggestions WHERE user_id = :u"), {"u": user})
        return {r.id: dict(r._mapping) for r in found}


def _state(engine: Engine, user: int) -> dict[str, Any]:
    with engine.connect() as conn:
        row = conn.execute(text("SELECT * FROM suggestion_state WHERE user_id = :u"), {"u": user}).one()
        return dict(row._mapping)


def test_refresh_keeps_ids_states_and_feedback_and_deactivates_what_vanished(engine: Engine) -> None:
    a, b = make_device(engine), make_device(engine)
    events = frame(person(a.user_id, 1) + person(b.user_id, 2))
    both = [a.user_id, b.user_id]  # the test database is shared: other tests' users are not this test's business
    first = refresh_suggestions(engine, events, users=both, model_version="m1")
    assert first.suggestions >= 4
    assert first.deactivated == 0
    rows = _rows(engine, a.user_id)
    by_title = {r["title"]: r["id"] for r in rows.values()}
    tex, md = by_title["Run latexmk when you save thesis/*.tex"], by_title["Run pandoc when you save blog/*.md"]
    assert all(r["active"] and r["state"] == "new" and r["model_version"] == "m1" for r in rows.values())
    assert rows[tex]["body"]["evidence"]["occurrences"] == rows[tex]["occurrences"] >= 20
    assert _state(engine, a.user_id)["version"] == 1

    with engine.begin() as conn:  # the person snoozes one and answers it (as the API would)
        conn.execute(text("UPDATE suggestions SET state = 'snoozed', snoozed_until = now() + interval '7 days'"
                          " WHERE id = :i"), {"i": tex})  # fmt: skip
        conn.execute(text("INSERT INTO suggestion_feedback (user_id, suggestion_id, action, days)"
                          " VALUES (:u, :i, 'snooze', 7)"), {"u": a.user_id, "i": tex})  # fmt: skip

    # a's pandoc habit stops (its events are gone); b is untouched
    later = frame(person(a.user_id, 1, pandoc=False) + person(b.user_id, 2))
    second = refresh_suggestions(engine, later, users=both, model_version="m2")
    assert second.deactivated == 1
    again = _rows(engine, a.user_id)
    assert set(again) == set(rows)  # nothing deleted, no new ids for the same patterns
    assert again[tex]["state"] == "snoozed"
    assert again[tex]["active"]
    assert again[tex]["model_version"] == "m2"
    assert again[tex]["snoozed_until"] is not None
    assert again[md]["active"] is False
    assert again[md]["state"] == "new"
    with engine.connect() as conn:
        assert (
            conn.execute(text("SELECT count(*) FROM suggestion_feedback WHERE suggestion_id = :i"), {"i": tex}).scalar()
            == 1
        )
    assert _state(engine, a.user_id)["version"] == 2
    assert all(r["active"] for r in _rows(engine, b.user_id).values())

    # the habit comes back: the same id becomes active again
    third = refresh_suggestions(engine, events, users=both, model_version="m3")
    assert third.deactivated == 0
    assert _rows(engine, a.user_id)[md]["active"] is True
    assert _state(engine, a.user_id)["version"] == 3


def test_refreshing_one_user_leaves_the_others(engine: Engine) -> None:
    a, b = make_device(engine), make_device(engine)
    events = frame(person(a.user_id, 3) + person(b.user_id, 4))
    refresh_suggestions(engine, events, users=[a.user_id, b.user_id])
    before = _rows(engine, b.user_id)
    summary = refresh_suggestions(engine, events.filter(pl.col("user_id") != b.user_id), users=[a.user_id])
    assert summary.users == 1
    assert _state(engine, a.user_id)["version"] == 2
    assert _state(engine, b.user_id)["version"] == 1
    assert _rows(engine, b.user_id) == before


def test_a_user_with_too_little_activity_is_told_how_much_is_needed(engine: Engine) -> None:
    small, silent = make_device(engine), make_device(engine)
    rows = [event(small.user_id, START + timedelta(hours=i), "modify", "notes/a.md") for i in range(30)]  # 2 days
    summary = refresh_suggestions(engine, frame(rows), users=[small.user_id, silent.user_id])
    assert summary.suggestions == 0
    assert summary.too_little == 2
    activity = _state(engine, small.user_id)["activity"]
    assert (activity["events"], activity["days"], activity["enough"]) == (30, 2, False)
    assert activity["needed"] == {"events": NEEDED_EVENTS, "days": NEEDED_DAYS}
    assert activity["message"] == (
        "Floyo has seen 30 events on 2 days from you; suggestions need at least 100 events on 5 different days:"
        " keep the agent running for 70 more events and activity on 3 more days."
    )
    assert _state(engine, silent.user_id)["activity"]["events"] == 0
    assert _rows(engine, small.user_id) == {}
