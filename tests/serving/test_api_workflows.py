"""Workflows over HTTP: validated definitions, a new version per change, soft deletion, other users' ids 404."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from tests.serving.api_helpers import SuggestionFactory, workflow
from tests.utils.factories import Device, make_device


def _create(client: TestClient, device: Device, definition: dict[str, Any] | None = None) -> Any:
    response = client.post("/api/v1/workflows", headers=device.headers, json=definition or workflow())
    assert response.status_code == 201, response.text
    return response.json()


def test_create_read_list(api: TestClient, device: Device):
    created = _create(api, device)
    assert created["version"] == 1
    assert created["origin"] is None
    assert created["definition"]["mode"] == "single"
    assert created["definition"]["triggers"][0]["debounce_ms"] == 2000  # defaults stored
    got = api.get(f"/api/v1/workflows/{created['id']}", headers=device.headers).json()
    assert got == created
    assert api.get("/api/v1/workflows", headers=device.headers).json()["workflows"] == [created]


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"actions": [{"type": "run", "command": "latexmk -pdf thesis.tex"}]}, "actions.0.run.command"),
        ({"actions": [{"type": "run", "command": ["latexmk"], "cwd": "/etc"}]}, "actions.0.run.cwd"),
        ({"actions": [{"type": "move", "dest": "../outside/{trigger.name}"}]}, "actions.0.move.dest"),
        ({"triggers": [{"type": "file", "root": "home", "paths": ["/abs/*.tex"]}]}, "triggers.0.file.paths.0"),
        ({"triggers": [{"type": "schedule", "cron": "99 * * * *"}]}, "triggers.0.schedule.cron"),
        ({"triggers": [{"type": "schedule", "cron": "*/0 * * * *"}]}, "triggers.0.schedule.cron"),
        ({"name": ""}, "name"),
        ({"mode": "sometimes"}, "mode"),
        ({"surprise": 1}, "surprise"),
        ({"actions": []}, "actions"),
    ],
)
def test_invalid_definitions_are_422_naming_the_field(
    api: TestClient, device: Device, change: dict[str, Any], where: str
):
    response = api.post("/api/v1/workflows", headers=device.headers, json=workflow(**change))
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_workflow"
    assert f": {where}: " in error["message"] or error["message"].startswith(f"the workflow is invalid: {where}")
    assert any(".".join(map(str, d["loc"])) == where for d in error["details"])
    assert api.get("/api/v1/workflows", headers=device.headers).json()["workflows"] == []


def test_a_body_that_is_not_an_object_is_422_and_bodies_are_bounded(api: TestClient, device: Device):
    for body in ([1, 2], "x", 3):
        response = api.post("/api/v1/workflows", headers=device.headers, json=body)
        assert response.status_code == 422
        assert response.json()["error"]["message"] == "the body must be a JSON object"
    assert api.post("/api/v1/workflows", headers=device.headers).status_code == 415  # no body, no content type
    nested = b"[" * 5000 + b"]" * 5000
    deep = api.post("/api/v1/workflows", headers={**device.headers, "content-type": "application/json"}, content=nested)
    assert deep.status_code == 400
    assert deep.json()["error"]["code"] == "malformed_json"
    huge = workflow(name="x" * 2_000_000)
    too_big = api.patch("/api/v1/workflows/1", headers=device.headers, json=huge)
    assert too_big.status_code == 413
    assert too_big.json()["error"]["code"] == "body_too_large"


def test_every_change_is_a_new_version_and_delete_keeps_the_history(api: TestClient, device: Device, engine: Engine):
    wid = _create(api, device)["id"]
    patched = api.patch(f"/api/v1/workflows/{wid}", headers=device.headers, json={"enabled": False})
    assert patched.status_code == 200
    assert patched.json()["version"] == 2
    assert patched.json()["enabled"] is False
    renamed = api.patch(
        f"/api/v1/workflows/{wid}",
        headers=device.headers,
        json={"name": "LaTeX", "conditions": [{"type": "time_window", "after": "08:00"}]},
    ).json()
    assert renamed["version"] == 3
    assert renamed["name"] == "LaTeX"
    assert renamed["definition"]["enabled"] is False  # earlier changes kept
    assert renamed["definition"]["conditions"][0]["before"] == "23:59"
    same = api.patch(f"/api/v1/workflows/{wid}", headers=device.headers, json={"enabled": False})
    assert same.json() == renamed  # nothing changed: no new version
    bad = api.patch(f"/api/v1/workflows/{wid}", headers=device.headers, json={"triggers": None})
    assert bad.status_code == 422
    assert api.get(f"/api/v1/workflows/{wid}", headers=device.headers).json()["version"] == 3
    versions = api.get(f"/api/v1/workflows/{wid}/versions", headers=device.headers).json()["versions"]
    assert [(v["version"], v["change"]) for v in versions] == [(1, "create"), (2, "update"), (3, "update")]
    assert versions[0]["definition"]["enabled"] is True
    assert versions[1]["definition"]["enabled"] is False

    deleted = api.delete(f"/api/v1/workflows/{wid}", headers=device.headers)
    assert deleted.status_code == 204
    for method, path in (
        ("GET", f"/api/v1/workflows/{wid}"), ("PATCH", f"/api/v1/workflows/{wid}"),
        ("DELETE", f"/api/v1/workflows/{wid}"), ("GET", f"/api/v1/workflows/{wid}/versions"),
    ):  # fmt: skip
        response = api.request(
            method, path, headers=device.headers, json={"enabled": True} if method == "PATCH" else None
        )
        assert response.status_code == 404, (method, path)
        assert response.json()["error"]["code"] == "no_such_workflow"
    assert api.get("/api/v1/workflows", headers=device.headers).json()["workflows"] == []
    with engine.connect() as conn:
        kept = conn.execute(
            text("SELECT version, change FROM workflow_versions WHERE workflow_id = :w ORDER BY version"), {"w": wid}
        ).all()
        assert conn.execute(text("SELECT deleted_at IS NOT NULL FROM workflows WHERE id = :w"), {"w": wid}).scalar()
    assert [tuple(r) for r in kept] == [(1, "create"), (2, "update"), (3, "update"), (4, "delete")]


def test_another_users_workflow_is_404_on_every_endpoint(
    api: TestClient, device: Device, engine: Engine, suggest: SuggestionFactory
):
    stranger = make_device(engine)
    theirs = _create(api, stranger)
    wid = theirs["id"]
    for method, path, body in (
        ("GET", f"/api/v1/workflows/{wid}", None),
        ("PATCH", f"/api/v1/workflows/{wid}", {"enabled": False}),
        ("DELETE", f"/api/v1/workflows/{wid}", None),
        ("GET", f"/api/v1/workflows/{wid}/versions", None),
    ):
        response = api.request(method, path, headers=device.headers, json=body)
        assert response.status_code == 404, (method, path)
        assert response.json()["error"] == {
            "code": "no_such_workflow",
            "message": f"no workflow {wid}",
            "details": None,
        }
    assert api.get("/api/v1/workflows", headers=device.headers).json()["workflows"] == []
    assert api.get(f"/api/v1/workflows/{wid}", headers=stranger.headers).json() == theirs  # untouched


def test_workflow_ids_out_of_range_are_422_not_500(api: TestClient, device: Device):
    for wid in ("0", "-1", str(2**63), "abc"):
        assert api.get(f"/api/v1/workflows/{wid}", headers=device.headers).status_code == 422


def test_an_admin_reads_a_users_workflows(api: TestClient, device: Device, engine: Engine):
    created = _create(api, device)
    admin = make_device(engine, admin=True)
    listed = api.get("/api/v1/workflows", headers=admin.headers, params={"user": device.user}).json()["workflows"]
    assert [w["id"] for w in listed] == [created["id"]]
    other = make_device(engine)
    assert api.get("/api/v1/workflows", headers=other.headers, params={"user": device.user}).status_code == 403
