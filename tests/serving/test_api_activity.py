"""GET /api/v1/activity against real PostgreSQL: counts, top items, heatmap, sessions, devices, filters, scope."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.utils.factories import Device, make_batch, make_device, make_event


def _send(api: TestClient, device: Device, events: list[dict[str, object]]) -> None:
    response = api.post("/api/v1/telemetry", json=make_batch(events), headers=device.headers)
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == len(events), response.text


def _activity(api: TestClient, device: Device, **params: object) -> Any:
    response = api.get("/api/v1/activity", headers=device.headers, params=params)
    assert response.status_code == 200, response.text
    data: dict[str, object] = response.json()
    return data


def test_activity_counts_tops_heatmap_sessions_and_devices(api: TestClient, device: Device):
    now = datetime.now(UTC)
    old = (now - timedelta(days=10)).replace(hour=9, minute=0, second=0, microsecond=0)
    events = [make_event(ts=(now - timedelta(minutes=i)).isoformat(), path=f"a{i}.py") for i in range(1, 4)]
    events += [make_event(ts=(old + timedelta(minutes=i)).isoformat(), path="n.md", root="notes") for i in range(2)]
    events.append(make_event(ts=(old + timedelta(hours=2)).isoformat(), kind="run", path="", tool="pytest"))
    _send(api, device, events)
    data = _activity(api, device)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    today = sum(now - timedelta(minutes=i) >= midnight for i in range(1, 4))  # 3 unless run just after midnight
    assert data["events"] == {"total": 6, "today": today, "week": 3}
    top = data["top"]
    assert top["extensions"] == [{"name": "py", "events": 3}, {"name": "md", "events": 2}]
    assert top["tools"] == [{"name": "pytest", "events": 1}]
    assert {r["name"]: r["events"] for r in top["roots"]} == {"projects": 4, "notes": 2}
    cells = {(c["weekday"], c["hour"]): c["events"] for c in data["heatmap"]}
    assert cells[(old.weekday(), 9)] == 2
    assert cells[(old.weekday(), 11)] == 1
    assert sum(cells.values()) == 6
    # a 2-hour pause splits the old day into two sessions; the recent three minutes are one
    assert data["sessions_total"] == 3
    assert data["sessions"][0]["events"] == 3
    assert [d["sessions"] for d in data["days"]] == [2, 1]
    (laptop,) = data["devices"]
    assert laptop["name"] == "laptop"
    assert laptop["last_event"] is not None
    assert 0 <= laptop["lag_s"] < 60


def test_activity_filters_by_kind_ext_root_and_range(api: TestClient, device: Device):
    now = datetime.now(UTC)
    _send(api, device, [
        make_event(ts=(now - timedelta(days=3)).isoformat(), path="a.py"),
        make_event(ts=(now - timedelta(days=1)).isoformat(), path="b.md", root="notes"),
        make_event(ts=(now - timedelta(hours=1)).isoformat(), kind="run", path="", tool="make"),
    ])  # fmt: skip
    assert _activity(api, device, kind="run")["events"]["total"] == 1
    assert _activity(api, device, ext=".MD")["events"]["total"] == 1
    assert _activity(api, device, root="notes")["events"]["total"] == 1
    since = (now - timedelta(days=2)).isoformat()
    assert _activity(api, device, since=since)["events"]["total"] == 2


def test_activity_of_a_new_user_is_empty_and_others_are_not_seen(api: TestClient, device: Device, engine: Engine):
    _send(api, device, [make_event()])
    stranger = make_device(engine)
    data = _activity(api, stranger)
    assert data["events"] == {"total": 0, "today": 0, "week": 0}
    assert data["heatmap"] == []
    assert data["sessions"] == []
    assert data["last_event"] is None
    assert data["devices"] == [{"name": "laptop", "last_event": None, "lag_s": None}]
    forbidden = api.get("/api/v1/activity", headers=stranger.headers, params={"user": device.user})
    assert forbidden.status_code == 403
    admin = make_device(engine, admin=True)
    assert _activity(api, admin, user=device.user)["events"]["total"] == 1


def test_activity_bad_input_is_a_precise_422(api: TestClient, device: Device):
    cases = [
        ({"since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"}, "empty_range"),
        (
            {"since": "2026-01-02T00:00:00", "until": "2026-01-02T00:00:00Z"},
            "empty_range",
        ),  # naive is UTC, as in events
    ]
    for params, code in cases:
        response = api.get("/api/v1/activity", headers=device.headers, params=params)
        assert response.status_code == 422, response.text
        assert response.json()["error"]["code"] == code, response.text
    assert api.get("/api/v1/activity", headers=device.headers, params={"kind": "jump"}).status_code == 422
    assert api.get("/api/v1/activity").status_code == 401
