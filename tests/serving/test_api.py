"""The suggestions API against real PostgreSQL: /me, the answer, every feedback rule, admins acting for a user."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from floyo.settings import Settings
from tests.serving.api_helpers import SuggestionFactory, set_state, update_suggestion
from tests.utils.factories import Device, jwt_headers, make_device


def _ids(client: TestClient, device: Device, **params: object) -> list[str]:
    response = client.get("/api/v1/suggestions", headers=device.headers, params=params)
    assert response.status_code == 200, response.text
    return [s["id"] for s in response.json()["suggestions"]]


def _feedback(
    client: TestClient, device: Device, sid: str, params: dict[str, str] | None = None, **body: object
) -> Any:
    response = client.post(f"/api/v1/suggestions/{sid}/feedback", headers=device.headers, json=body, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def _feedback_rows(engine: Engine, sid: str) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT * FROM suggestion_feedback WHERE suggestion_id = :s ORDER BY id"), {"s": sid})
        return [dict(r._mapping) for r in rows]


def _state_version(engine: Engine, user_id: int) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(text("SELECT version FROM suggestion_state WHERE user_id = :u"), {"u": user_id}).scalar_one()
        )


# --- /me


def test_me_names_the_user_the_device_and_the_admin_flag(api: TestClient, device: Device, settings: Settings):
    assert api.get("/api/v1/me", headers=device.headers).json() == {
        "user": device.user, "device": device.device, "is_admin": False,
    }  # fmt: skip
    by_jwt = api.get("/api/v1/me", headers=jwt_headers(settings, device.user))
    assert by_jwt.json() == {"user": device.user, "device": None, "is_admin": False}


def test_me_without_a_token_is_401(api: TestClient):
    response = api.get("/api/v1/me")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "missing_token"


def test_me_says_admin(api: TestClient, engine: Engine):
    admin = make_device(engine, admin=True)
    assert api.get("/api/v1/me", headers=admin.headers).json()["is_admin"] is True


# --- the answer


def test_suggestions_best_first_with_the_contract_fields(api: TestClient, device: Device, suggest: SuggestionFactory):
    low = suggest(device.user_id, score=0.2)
    high = suggest(device.user_id, score=0.9)
    mid = suggest(device.user_id, score=0.5)
    answer = api.get("/api/v1/suggestions", headers=device.headers).json()
    assert [s["id"] for s in answer["suggestions"]] == [high, mid, low]
    assert answer["model_version"] == "7"
    assert answer["ranker"] == {"name": "transparent", "version": None}
    first = answer["suggestions"][0]
    assert set(first) == {
        "id", "template", "title", "description", "pattern", "evidence", "savings", "confidence", "score", "state",
        "workflow",
    }  # fmt: skip
    assert first["state"] == "new"
    assert first["score"] == 0.9
    assert first["template"] == "run_on_save"
    assert first["evidence"]["occurrences"] == 20
    assert first["workflow"]["actions"][0]["command"] == ["latexmk"]
    assert "activity" not in answer
    assert _ids(api, device, limit=2) == [high, mid]


def test_limit_outside_1_100_is_422(api: TestClient, device: Device):
    for limit in (0, 101, "x"):
        assert api.get("/api/v1/suggestions", headers=device.headers, params={"limit": limit}).status_code == 422


def test_inactive_suggestions_are_not_shown(api: TestClient, device: Device, suggest: SuggestionFactory):
    gone = suggest(device.user_id, active=False, score=0.99)
    kept = suggest(device.user_id)
    assert _ids(api, device) == [kept]
    assert gone not in _ids(api, device)


def test_a_user_before_any_refresh_is_told_why_there_is_nothing(api: TestClient, device: Device):
    answer = api.get("/api/v1/suggestions", headers=device.headers).json()
    assert answer["suggestions"] == []
    assert answer["model_version"] is None
    assert "floyo job run" in answer["activity"]["message"]


def test_too_little_activity_is_said_with_what_is_needed(api: TestClient, device: Device, engine: Engine):
    activity = {"events": 12, "days": 2, "needed": {"events": 200, "days": 7}, "message": "keep working"}
    set_state(engine, device.user_id, activity=activity)
    answer = api.get("/api/v1/suggestions", headers=device.headers).json()
    assert answer["suggestions"] == []
    assert answer["activity"] == activity


# --- feedback: accept


def test_accept_creates_the_workflow_and_the_suggestion_never_comes_back(
    api: TestClient, device: Device, suggest: SuggestionFactory, engine: Engine
):
    other = suggest(device.user_id, score=0.9)
    sid = suggest(device.user_id, score=0.5)
    before = _state_version(engine, device.user_id)
    result = _feedback(api, device, sid, action="accept", reason="yes please")
    workflow = result["workflow"]
    assert workflow["origin"] == {"suggestion_id": sid, "model_version": "7"}
    assert workflow["version"] == 1
    assert workflow["name"] == "Build thesis/*.tex with latexmk on save"
    assert workflow["definition"]["triggers"][0]["paths"] == ["thesis/*.tex"]
    assert workflow["definition"]["mode"] == "single"  # stored validated, defaults filled in
    listed = api.get("/api/v1/workflows", headers=device.headers).json()["workflows"]
    assert [w["id"] for w in listed] == [workflow["id"]]
    assert _ids(api, device) == [other]
    assert _state_version(engine, device.user_id) == before + 1
    (row,) = _feedback_rows(engine, sid)
    assert row["action"] == "accept"
    assert row["reason"] == "yes please"
    assert row["position"] == 1
    assert row["shown"]["id"] == sid
    assert row["shown"]["state"] == "new"
    assert row["days"] is None


@pytest.mark.parametrize("action", ["accept", "dismiss", "snooze"])
def test_any_feedback_on_an_accepted_suggestion_is_409(
    api: TestClient, device: Device, suggest: SuggestionFactory, action: str
):
    sid = suggest(device.user_id)
    _feedback(api, device, sid, action="accept")
    response = api.post(f"/api/v1/suggestions/{sid}/feedback", headers=device.headers, json={"action": action})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "already_accepted"
    assert len(api.get("/api/v1/workflows", headers=device.headers).json()["workflows"]) == 1


def test_accepting_a_suggestion_whose_workflow_is_invalid_creates_nothing(
    api: TestClient, device: Device, suggest: SuggestionFactory
):
    from tests.serving.api_helpers import body, workflow

    broken = body(workflow=workflow(actions=[{"type": "run", "command": "latexmk thesis.tex"}]))
    sid = suggest(device.user_id, body=broken)
    response = api.post(f"/api/v1/suggestions/{sid}/feedback", headers=device.headers, json={"action": "accept"})
    assert response.status_code == 409
    assert "command" in response.json()["error"]["message"]
    assert api.get("/api/v1/workflows", headers=device.headers).json()["workflows"] == []
    assert sid in _ids(api, device)


# --- feedback: dismiss


def test_dismissed_stays_away_until_its_occurrences_double(
    api: TestClient, device: Device, suggest: SuggestionFactory, engine: Engine
):
    sid = suggest(device.user_id, occurrences=10)
    assert _feedback(api, device, sid, action="dismiss", reason="noise")["workflow"] is None
    assert sid not in _ids(api, device)
    with engine.connect() as conn:
        assert conn.execute(
            text("SELECT state, dismissed_occurrences FROM suggestions WHERE id = :s"), {"s": sid}
        ).one() == ("dismissed", 10)
    update_suggestion(engine, sid, "occurrences = 19")  # a refresh found more, not twice as many
    assert sid not in _ids(api, device)
    update_suggestion(engine, sid, "occurrences = 20")
    answer = api.get("/api/v1/suggestions", headers=device.headers).json()
    assert [s["id"] for s in answer["suggestions"]] == [sid]
    assert answer["suggestions"][0]["state"] == "new"


# --- feedback: snooze


def test_snooze_hides_for_the_default_7_days_then_comes_back_snoozed(
    api: TestClient, device: Device, suggest: SuggestionFactory, engine: Engine
):
    sid = suggest(device.user_id)
    assert _feedback(api, device, sid, action="snooze")["days"] == 7
    assert _ids(api, device) == []
    with engine.connect() as conn:
        until = conn.execute(text("SELECT snoozed_until FROM suggestions WHERE id = :s"), {"s": sid}).scalar_one()
    assert abs(until - (datetime.now(UTC) + timedelta(days=7))) < timedelta(minutes=1)
    assert _feedback_rows(engine, sid)[0]["days"] == 7
    update_suggestion(engine, sid, "snoozed_until = now() - interval '1 second'")  # the week has passed
    answer = api.get("/api/v1/suggestions", headers=device.headers).json()
    assert [(s["id"], s["state"]) for s in answer["suggestions"]] == [(sid, "snoozed")]


def test_snooze_for_n_days(api: TestClient, device: Device, suggest: SuggestionFactory, engine: Engine):
    sid = suggest(device.user_id)
    _feedback(api, device, sid, action="snooze", days=30)
    with engine.connect() as conn:
        until = conn.execute(text("SELECT snoozed_until FROM suggestions WHERE id = :s"), {"s": sid}).scalar_one()
    assert timedelta(days=29, hours=23) < until - datetime.now(UTC) <= timedelta(days=30)


def test_a_snooze_ending_is_not_hidden_by_the_cache(
    api: TestClient, device: Device, suggest: SuggestionFactory, engine: Engine
):
    """The answer cached while a snooze runs expires when the snooze ends, whatever the TTL."""
    sid = suggest(device.user_id)
    _feedback(api, device, sid, action="snooze")
    with engine.begin() as conn:  # time passes: no refresh, no version change
        conn.execute(
            text("UPDATE suggestions SET snoozed_until = now() + interval '1 second' WHERE id = :s"), {"s": sid}
        )
    set_state(engine, device.user_id)
    assert _ids(api, device) == []  # cached now, for at most a second
    with engine.begin() as conn:
        conn.execute(text("SELECT pg_sleep(1.1)"))  # the snooze must really end: the server checks now()
    assert _ids(api, device) == [sid]


# --- bad input


@pytest.mark.parametrize(
    "body",
    [
        {"action": "like"},
        {},
        {"action": "snooze", "days": 0},
        {"action": "snooze", "days": 366},
        {"action": "snooze", "days": "soon"},
        {"action": "dismiss", "days": 3},
        {"action": "dismiss", "reason": "x" * 2001},
        {"action": "dismiss", "extra": 1},
    ],
)
def test_bad_feedback_is_422_and_changes_nothing(
    api: TestClient, device: Device, suggest: SuggestionFactory, engine: Engine, body: dict[str, Any]
):
    sid = suggest(device.user_id)
    response = api.post(f"/api/v1/suggestions/{sid}/feedback", headers=device.headers, json=body)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "invalid_request"
    assert _feedback_rows(engine, sid) == []
    assert _ids(api, device) == [sid]


def test_feedback_that_is_not_json_is_400(api: TestClient, device: Device, suggest: SuggestionFactory):
    sid = suggest(device.user_id)
    response = api.post(
        f"/api/v1/suggestions/{sid}/feedback", headers={**device.headers, "content-type": "application/json"},
        content=b"{not json",
    )  # fmt: skip
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_json"
    as_text = api.post(f"/api/v1/suggestions/{sid}/feedback", headers=device.headers, content=b"action=accept")
    assert as_text.status_code == 415


# --- other users


def test_another_users_suggestion_is_404_and_never_listed(
    api: TestClient, device: Device, suggest: SuggestionFactory, engine: Engine
):
    stranger = make_device(engine)
    theirs = suggest(stranger.user_id)
    mine = suggest(device.user_id)
    assert _ids(api, device) == [mine]
    for action in ("accept", "dismiss", "snooze"):
        response = api.post(f"/api/v1/suggestions/{theirs}/feedback", headers=device.headers, json={"action": action})
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "no_such_suggestion"
    unknown = api.post(
        "/api/v1/suggestions/s_0000000000000000/feedback", headers=device.headers, json={"action": "dismiss"}
    )
    assert unknown.status_code == 404
    assert unknown.json()["error"] == response.json()["error"] | {"message": "no suggestion 's_0000000000000000'"}
    assert _feedback_rows(engine, theirs) == []
    assert _ids(api, stranger) == [theirs]


def test_an_admin_may_name_a_user_and_others_may_not(
    api: TestClient, device: Device, suggest: SuggestionFactory, engine: Engine
):
    admin = make_device(engine, admin=True)
    sid = suggest(device.user_id)
    assert _ids(api, admin, user=device.user) == [sid]
    assert _ids(api, admin) == []
    other = make_device(engine)
    forbidden = api.get("/api/v1/suggestions", headers=other.headers, params={"user": device.user})
    assert forbidden.status_code == 403
    assert api.get("/api/v1/suggestions", headers=admin.headers, params={"user": "nobody-xyz"}).status_code == 404
    assert _ids(api, device, user=device.user) == [sid]  # naming oneself is fine
    _feedback(api, admin, sid, {"user": device.user}, action="dismiss")
    assert _ids(api, device) == []


# --- the catalog


def test_the_catalog_lists_the_templates(api: TestClient, device: Device):
    response = api.get("/api/v1/catalog", headers=device.headers)
    assert response.status_code == 200
    ids = {t["id"] for t in response.json()["templates"]}
    assert ids >= {"run_on_save", "convert_on_change", "file_downloads", "backup_folder", "notify_long_run",
                   "test_before_commit", "scheduled_job"}  # fmt: skip
    assert api.get("/api/v1/catalog").status_code == 401


def test_readiness_reports_the_model_versions(api: TestClient):
    body = api.get("/health/readiness").json()
    assert body["status"] == "ready"
    assert body["models"]["floyo-ranker"] is None
    assert body["models"]["ranking"] == "transparent"


def test_two_concurrent_accepts_make_one_workflow_and_one_409(
    device: Device, suggest: SuggestionFactory, engine: Engine
):
    """The suggestion row is locked: the second accept waits for the first, then sees it accepted."""
    import threading
    import time

    from floyo.db.scoping import scoped_connection
    from floyo.errors import Conflict
    from serving.answers import give_feedback

    sid = suggest(device.user_id)
    answer: dict[str, Any] = {"suggestions": []}
    second: list[BaseException | None] = []

    def accept_again() -> None:
        try:
            with scoped_connection(engine, device.user_id) as other:
                give_feedback(other.conn, device.user_id, sid, action="accept", reason=None, days=7, answer=answer)
            second.append(None)
        except BaseException as exc:
            second.append(exc)

    with scoped_connection(engine, device.user_id) as first:
        give_feedback(first.conn, device.user_id, sid, action="accept", reason=None, days=7, answer=answer)
        thread = threading.Thread(target=accept_again)
        thread.start()
        deadline = time.monotonic() + 30
        waiting = text(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
        )
        with engine.connect() as watcher:  # wait until the second really waits on the row lock
            while not watcher.execute(waiting).scalar():
                assert not second, f"the second accept did not wait: {second}"
                assert time.monotonic() < deadline, "the second accept never waited for the first"
                watcher.rollback()  # pg_stat_activity is one snapshot per transaction: take a fresh one
                time.sleep(0.02)
    thread.join(10)
    assert len(second) == 1
    assert isinstance(second[0], Conflict)
    with engine.connect() as conn:
        assert (
            conn.execute(text("SELECT count(*) FROM workflows WHERE user_id = :u"), {"u": device.user_id}).scalar() == 1
        )


def test_openapi_documents_every_route_of_the_composed_app(api: TestClient):
    spec = api.get("/openapi.json")
    assert spec.status_code == 200
    paths = spec.json()["paths"]
    for path in (
        "/api/v1/telemetry", "/api/v1/events", "/api/v1/me", "/api/v1/suggestions",
        "/api/v1/suggestions/{suggestion_id}/feedback", "/api/v1/workflows", "/api/v1/workflows/{workflow_id}",
        "/api/v1/workflows/{workflow_id}/versions", "/api/v1/catalog", "/health/readiness", "/api/v1/activity",
        "/api/v1/operations",
    ):  # fmt: skip
        assert path in paths, path
    create = paths["/api/v1/workflows"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    components = spec.json()["components"]["schemas"]
    assert create == {"$ref": "#/components/schemas/WorkflowDefinition"}
    assert "triggers" in components["WorkflowDefinition"]["properties"]
    refs = re.findall(r'"\$ref":\s*"#/components/schemas/([^"]+)"', spec.text)
    assert set(refs) <= set(components), "every $ref resolves"
    assert "FileTrigger" in refs


def test_nul_characters_are_422_never_500(api: TestClient, device: Device, suggest: SuggestionFactory, engine: Engine):
    """PostgreSQL cannot store NUL in text or jsonb: refused at the edge with a precise answer."""
    from tests.serving.api_helpers import workflow

    sid = suggest(device.user_id)
    admin = make_device(engine, admin=True)
    answers = [
        api.post("/api/v1/suggestions/s_1%00/feedback", headers=device.headers, json={"action": "dismiss"}),
        api.get("/api/v1/suggestions", headers=admin.headers, params={"user": "a\x00b"}),
        api.post(
            f"/api/v1/suggestions/{sid}/feedback", headers=device.headers, json={"action": "dismiss", "reason": "a\x00"}
        ),
        api.post(
            "/api/v1/workflows", headers=device.headers, json=workflow(actions=[{"type": "notify", "message": "a\x00"}])
        ),
    ]
    assert [r.status_code for r in answers] == [422, 422, 422, 422]
    assert (
        answers[3].json()["error"]["message"] == "the workflow is invalid: actions.0.message: contains a NUL character"
    )
    assert "NUL" in str(answers[2].json()["error"]["details"])


def test_the_trained_rankers_pyfunc_is_served_through_its_ranker(
    api: TestClient, device: Device, suggest: SuggestionFactory, engine: Engine
):
    """The object champions.py serves from serving.ranker's pyfunc ranks the API's suggestions with the stored
    history (feedback rows as serving.store reads them): the formats of both sides agree."""
    import numpy as np

    from serving import store
    from serving.champions import _as_ranker
    from serving.ranker import Ranker, RankerPyfunc
    from serving.ranker_features import FEATURES

    n = len(FEATURES)
    pyfunc = RankerPyfunc()
    pyfunc.ranker = Ranker(np.zeros(n), np.ones(n), np.linspace(-1, 1, n), 0.0)
    ranker = _as_ranker(pyfunc)
    assert ranker is pyfunc.ranker
    sids = [suggest(device.user_id, score=s) for s in (0.9, 0.5)]
    response = api.post(f"/api/v1/suggestions/{sids[0]}/feedback", headers=device.headers, json={"action": "dismiss"})
    assert response.status_code == 200
    from floyo.db.scoping import scoped_connection

    with scoped_connection(engine, device.user_id) as scoped:
        suggestions, _ = store.eligible_suggestions(scoped.conn, device.user_id)
        history = store.feedback_history(scoped.conn, device.user_id)
    assert [h["action"] for h in history] == ["dismiss"]
    assert history[0]["shown"]["id"] == sids[0]
    scores = ranker.rank(suggestions, history)
    assert len(scores) == len(suggestions) == 1
    assert all(0.0 < s < 1.0 for s in scores)
