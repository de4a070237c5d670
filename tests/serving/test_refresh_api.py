"""What the refresh writes is what the API serves: the real refresh, then GET /api/v1/suggestions and an accept."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from serving.refresh import refresh_suggestions
from tests.serving.helpers import frame, person
from tests.utils.factories import Device


def test_refreshed_suggestions_are_served_and_an_accepted_one_becomes_its_workflow(
    api: TestClient, device: Device, engine: Engine
) -> None:
    events = frame(person(device.user_id, 11))
    refresh_suggestions(engine, events, users=[device.user_id], model_version="m1")
    answer = api.get("/api/v1/suggestions", headers=device.headers).json()
    assert answer["model_version"] == "m1"
    served = {s["title"]: s for s in answer["suggestions"]}
    tex = served["Run latexmk when you save thesis/*.tex"]
    assert tex["template"] == "run_on_save"
    assert tex["state"] == "new"
    assert tex["pattern"]["steps"][0] == {"action": "modify", "glob": "thesis/*.tex", "root": "home"}
    assert tex["evidence"]["occurrences"] >= 20
    assert tex["savings"]["minutes_per_week"] > 0
    assert [s["score"] for s in answer["suggestions"]] == sorted(
        (s["score"] for s in answer["suggestions"]), reverse=True
    )

    accepted = api.post(f"/api/v1/suggestions/{tex['id']}/feedback", headers=device.headers, json={"action": "accept"})
    assert accepted.status_code in (200, 201), accepted.text
    workflow = accepted.json()["workflow"]
    assert workflow["definition"] == tex["workflow"]  # exactly what the suggestion said accepting would create
    assert workflow["origin"] == {"suggestion_id": tex["id"], "model_version": "m1"}

    refresh_suggestions(engine, events, users=[device.user_id], model_version="m2")  # found again: stays accepted
    again = api.get("/api/v1/suggestions", headers=device.headers).json()
    assert again["model_version"] == "m2"
    assert tex["id"] not in {s["id"] for s in again["suggestions"]}
    assert {s["id"] for s in again["suggestions"]} == {s["id"] for s in answer["suggestions"]} - {tex["id"]}
