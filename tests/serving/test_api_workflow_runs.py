"""A workflow on people's machines over HTTP: devices' approvals (bound to the definition hash), the runs the agent
reports as events, and the measured outcome; another user's workflow id is a 404 everywhere."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from floyo.settings import Settings
from floyo.workflow_definition import definition_hash
from tests.serving.api_helpers import workflow
from tests.utils.factories import Device, jwt_headers, make_batch, make_device


def _create(api: TestClient, device: Device, **overrides: Any) -> dict[str, Any]:
    response = api.post("/api/v1/workflows", headers=device.headers, json=workflow(**overrides))
    assert response.status_code == 201, response.text
    return dict(response.json())


def _approve(api: TestClient, device: Device, wf: dict[str, Any], state: str = "approved", **extra: Any) -> Any:
    body = {"version": wf["version"], "definition_hash": definition_hash(wf["definition"]), "state": state, **extra}
    return api.put(f"/api/v1/workflows/{wf['id']}/approval", headers=device.headers, json=body)


def run_event(workflow_id: int | None, ts: datetime, *, outcome: str = "ok", exit_code: int = 0,
              version: int = 1, tool: str = "latexmk", duration_ms: int = 1200) -> dict[str, Any]:  # fmt: skip
    """A ``run`` event as the agent reports one (``workflow_id`` None: the person ran it by hand)."""
    event: dict[str, Any] = {
        "event_id": str(uuid.uuid4()), "ts": ts.isoformat(), "kind": "run", "root": "documents", "path": "thesis",
        "tool": tool, "exit_code": exit_code, "duration_ms": duration_ms,
    }  # fmt: skip
    if workflow_id is not None:
        event["meta"] = {"workflow_id": workflow_id, "workflow_version": version, "outcome": outcome,
                         "run_id": uuid.uuid4().hex}  # fmt: skip
    return event


def send(api: TestClient, device: Device, events: list[dict[str, Any]]) -> None:
    """Events through the telemetry API with the device's token, as the agent sends them."""
    for i in range(0, len(events), 1000):
        response = api.post("/api/v1/telemetry", json=make_batch(events[i : i + 1000]), headers=device.headers)
        assert response.status_code == 200, response.text
        assert response.json()["accepted"] == len(events[i : i + 1000]), response.text


def test_a_device_approves_the_hash_it_saw_and_the_workflow_says_so(api: TestClient, device: Device, engine: Engine):
    wf = _create(api, device)
    assert (wf["approvals"], wf["adopted_at"], wf["outcome"]) == ([], None, None)
    response = _approve(api, device, wf)
    assert response.status_code == 200, response.text
    shown = response.json()
    [approval] = shown["approvals"]
    assert approval["device"] == device.device
    assert approval["device_id"] == device.device_id
    assert (approval["state"], approval["version"]) == ("approved", 1)
    assert approval["definition_hash"] == definition_hash(wf["definition"])
    assert shown["adopted_at"] == approval["at"]
    assert shown["version"] == 1  # approving changes no version
    got = api.get(f"/api/v1/workflows/{wf['id']}", headers=device.headers).json()
    assert got["approvals"] == shown["approvals"]
    assert api.get("/api/v1/workflows", headers=device.headers).json()["workflows"][0]["adopted_at"] is not None
    # a second device of the same person: each device's latest state, side by side; a rejection later replaces
    # the first device's state but not the adoption
    phone = make_device(engine, user=device.user, device="desktop")
    assert _approve(api, phone, wf, "rejected", reason="not on this machine").status_code == 200
    again = _approve(api, device, wf, "rejected")
    states = {a["device"]: (a["state"], a["reason"]) for a in again.json()["approvals"]}
    assert states == {device.device: ("rejected", None), "desktop": ("rejected", "not on this machine")}
    assert again.json()["adopted_at"] == shown["adopted_at"]


def test_a_stale_or_unknown_hash_is_409_and_records_nothing(api: TestClient, device: Device):
    wf = _create(api, device)
    changed = api.patch(
        f"/api/v1/workflows/{wf['id']}", headers=device.headers,
        json={"actions": [{"type": "run", "command": ["latexmk", "-pdf"]}]},
    ).json()  # fmt: skip
    assert changed["version"] == 2
    old_hash = definition_hash(wf["definition"])
    stale = api.put(f"/api/v1/workflows/{wf['id']}/approval", headers=device.headers,
                    json={"version": 2, "definition_hash": old_hash, "state": "approved"})  # fmt: skip
    assert stale.status_code == 409, stale.text
    error = stale.json()["error"]
    assert error["code"] == "stale_definition"
    assert error["details"] == {"version": 2, "definition_hash": definition_hash(changed["definition"])}
    unknown = api.put(f"/api/v1/workflows/{wf['id']}/approval", headers=device.headers,
                      json={"version": 9, "definition_hash": old_hash, "state": "approved"})  # fmt: skip
    assert unknown.status_code == 409
    assert "does not exist" in unknown.json()["error"]["message"]
    assert api.get(f"/api/v1/workflows/{wf['id']}", headers=device.headers).json()["approvals"] == []
    # the version the person saw, with its own hash, is recorded as what it is (version 1)
    assert _approve(api, device, wf).json()["approvals"][0]["version"] == 1


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"state": "enabled"}, "state"),
        ({"definition_hash": "abc"}, "definition_hash"),
        ({"definition_hash": "A" * 64}, "definition_hash"),
        ({"version": 0}, "version"),
        ({"reason": "x" * 501}, "reason"),
        ({"reason": "a\x00b"}, "reason"),
        ({"approved_by": "server"}, "approved_by"),
    ],
)
def test_a_bad_approval_body_is_422_naming_the_field(
    api: TestClient, device: Device, change: dict[str, Any], field: str
):
    wf = _create(api, device)
    body = {"version": 1, "definition_hash": definition_hash(wf["definition"]), "state": "approved", **change}
    response = api.put(f"/api/v1/workflows/{wf['id']}/approval", headers=device.headers, json=body)
    assert response.status_code == 422, response.text
    assert field in response.text
    missing = api.put(f"/api/v1/workflows/{wf['id']}/approval", headers=device.headers, json={"version": 1})
    assert missing.status_code == 422
    assert api.get(f"/api/v1/workflows/{wf['id']}", headers=device.headers).json()["approvals"] == []


def test_approvals_come_from_a_device_not_a_persons_jwt(api: TestClient, device: Device, settings: Settings):
    wf = _create(api, device)
    body = {"version": 1, "definition_hash": definition_hash(wf["definition"]), "state": "approved"}
    response = api.put(f"/api/v1/workflows/{wf['id']}/approval", headers=jwt_headers(settings, device.user), json=body)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "device_token_required"


def test_disabled_on_the_machine_disables_it_on_the_server_and_never_reenables(api: TestClient, device: Device):
    wf = _create(api, device)
    assert _approve(api, device, wf).status_code == 200
    disabled = _approve(api, device, wf, "disabled", reason="5 failures in a row: exit 2")
    assert disabled.status_code == 200, disabled.text
    shown = disabled.json()
    assert (shown["enabled"], shown["version"]) == (False, 2)  # a new version, enabled: false
    assert shown["approvals"][0]["reason"] == "5 failures in a row: exit 2"
    versions = api.get(f"/api/v1/workflows/{wf['id']}/versions", headers=device.headers).json()["versions"]
    assert [v["definition"]["enabled"] for v in versions] == [True, False]
    # the same hash (``enabled`` is not part of it): approving again records the state, the server does not enable
    again = _approve(api, device, {**wf, "version": 2})
    assert again.status_code == 200
    assert (again.json()["enabled"], again.json()["version"]) == (False, 2)


def test_runs_are_the_agents_run_events_newest_first(api: TestClient, device: Device):
    wf, other = _create(api, device), _create(api, device, name="Another one")
    now = datetime.now(UTC).replace(microsecond=0)
    mine = [
        run_event(wf["id"], now - timedelta(hours=3), duration_ms=900),
        run_event(wf["id"], now - timedelta(hours=2), outcome="failed", exit_code=2, version=2),
        run_event(wf["id"], now - timedelta(hours=1), outcome="timeout", exit_code=-9),
    ]
    mine[1]["meta"]["error"] = "exit 2"
    noise = [run_event(None, now - timedelta(minutes=30)), run_event(other["id"], now - timedelta(minutes=20))]
    malformed = run_event(None, now - timedelta(minutes=10))
    malformed["meta"] = {"workflow_id": "not a number", "workflow_version": "x"}  # a client's meta: stored, harmless
    send(api, device, [*mine, *noise, malformed])
    runs = api.get(f"/api/v1/workflows/{wf['id']}/runs", headers=device.headers).json()["runs"]
    assert [r["event_id"] for r in runs] == [e["event_id"] for e in reversed(mine)]
    newest, failed = runs[0], runs[1]
    assert (newest["outcome"], newest["exit_code"], newest["version"]) == ("timeout", -9, 1)
    assert (failed["outcome"], failed["exit_code"], failed["version"], failed["error"]) == ("failed", 2, 2, "exit 2")
    assert runs[2]["duration_ms"] == 900
    assert runs[2]["run_id"] == mine[0]["meta"]["run_id"]
    assert (runs[2]["tool"], runs[2]["device"], runs[2]["device_id"]) == ("latexmk", device.device, device.device_id)
    # the server corrects the client's clock by the batch's sent_at: the same moment within the request's latency
    assert abs(datetime.fromisoformat(runs[2]["started_at"]) - (now - timedelta(hours=3))) < timedelta(seconds=5)
    assert len(api.get(f"/api/v1/workflows/{wf['id']}/runs?limit=2", headers=device.headers).json()["runs"]) == 2
    assert api.get(f"/api/v1/workflows/{wf['id']}/runs?limit=0", headers=device.headers).status_code == 422
    assert api.get(f"/api/v1/workflows/{wf['id']}/runs?limit=abc", headers=device.headers).status_code == 422
    # a run proves adoption even before the approval reached the server (an agent approving offline)
    adopted_at = api.get(f"/api/v1/workflows/{wf['id']}", headers=device.headers).json()["adopted_at"]
    assert adopted_at == runs[2]["started_at"]


def test_another_users_workflow_is_404_on_every_endpoint(api: TestClient, device: Device, engine: Engine):
    wf = _create(api, device)
    send(api, device, [run_event(wf["id"], datetime.now(UTC) - timedelta(minutes=5))])
    stranger = make_device(engine)
    body = {"version": 1, "definition_hash": definition_hash(wf["definition"]), "state": "approved"}
    calls: tuple[tuple[str, str, dict[str, Any]], ...] = (
        ("PUT", f"/api/v1/workflows/{wf['id']}/approval", {"json": body}),
        ("GET", f"/api/v1/workflows/{wf['id']}/runs", {}),
        ("GET", f"/api/v1/workflows/{wf['id']}/outcome", {}),
        ("PUT", "/api/v1/workflows/999999999/approval", {"json": body}),
        ("GET", "/api/v1/workflows/999999999/runs", {}),
    )
    for method, path, kwargs in calls:
        response = api.request(method, path, headers=stranger.headers, json=kwargs.get("json"))
        assert response.status_code == 404, (path, response.text)
        assert response.json()["error"]["code"] == "no_such_workflow"
    # the owner's side is untouched, and reads fine
    assert api.get(f"/api/v1/workflows/{wf['id']}", headers=device.headers).json()["approvals"] == []
    assert len(api.get(f"/api/v1/workflows/{wf['id']}/runs", headers=device.headers).json()["runs"]) == 1
    outcome = api.get(f"/api/v1/workflows/{wf['id']}/outcome", headers=device.headers).json()
    assert (outcome["id"], outcome["outcome"]) == (wf["id"], None)
    assert outcome["adopted_at"] is not None
