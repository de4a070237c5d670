"""The request scope: every per-user route runs as floyo_user scoped to its caller, on a NOSUPERUSER-owned database."""

from __future__ import annotations

import csv
import io
from typing import Any

from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from floyo.settings import Settings
from ingest.deps import ScopedConn, get_request_scope, protected_router
from tests.utils.factories import jwt_headers, make_batch, make_event

URL = "/api/v1/telemetry"
EVENTS = "/api/v1/events"
# The only routes that run without a caller: they touch no per-user data.
OPTED_OUT = {"/health", "/health/readiness", "/metrics"}


def _calls(dependant: Any) -> set[Any]:
    calls = {dependant.call}
    for sub in dependant.dependencies:
        calls |= _calls(sub)
    return calls


def _api_routes(routes: list[Any]) -> list[APIRoute]:
    """Every APIRoute, also inside included routers (FastAPI keeps those as branches)."""
    found: list[APIRoute] = []
    for route in routes:
        if isinstance(route, APIRoute):
            found.append(route)
        elif hasattr(route, "original_router"):
            found += _api_routes(route.original_router.routes)
    return found


def test_every_route_but_the_operations_ones_runs_in_the_request_scope(settings: Settings):
    from ingest.app import create_app

    routes = _api_routes(create_app(settings).routes)
    assert {r.path for r in routes} >= {URL, EVENTS, f"{EVENTS}/export", *OPTED_OUT}
    for route in routes:
        scoped = get_request_scope in _calls(route.dependant)
        assert scoped == (route.path not in OPTED_OUT), route.path


def test_a_new_route_on_the_protected_router_is_scoped_even_without_asking(settings: Settings, device, other_device):
    """No WHERE clause anywhere: what the route sees is what the policies let the caller see."""
    from ingest.app import create_app

    app = create_app(settings)
    router = protected_router()

    @router.get("/test/everything")
    def everything(scope: ScopedConn) -> dict[str, Any]:
        conn = scope.conn
        return {
            "users": [r[0] for r in conn.execute("SELECT id FROM users")],
            "devices": [r[0] for r in conn.execute("SELECT user_id FROM devices")],
            "events": sorted({r[0] for r in conn.execute("SELECT user_id FROM events")}),
            "role": conn.execute("SELECT current_user").fetchone(),
        }

    @router.get("/test/forgetful")
    def forgetful() -> dict[str, str]:  # asks for nothing, yet needs a caller
        return {"ok": "yes"}

    app.include_router(router)
    with TestClient(app, raise_server_exceptions=False) as client:
        for d in (device, other_device):
            assert client.post(URL, json=make_batch([make_event()]), headers=d.headers).json()["accepted"] == 1
        seen = client.get("/test/everything", headers=device.headers).json()
        assert seen == {"users": [device.user_id], "devices": [device.user_id], "events": [device.user_id],
                        "role": ["floyo_user"]}  # fmt: skip
        assert client.get("/test/forgetful").status_code == 401
        assert client.get("/test/forgetful", headers=device.headers).status_code == 200


def test_reading_and_exporting_work_on_a_database_owned_by_a_nosuperuser(client, device, settings: Settings):
    """Was a 500 (permission denied to set role "floyo_user") on every managed PostgreSQL."""
    event = make_event()
    assert client.post(URL, json=make_batch([event]), headers=device.headers).json()["accepted"] == 1
    for headers in (device.headers, jwt_headers(settings, device.user)):
        page = client.get(EVENTS, headers=headers)
        assert page.status_code == 200, page.text
        assert [e["event_id"] for e in page.json()["events"]] == [event["event_id"]]
        export = client.get(f"{EVENTS}/export", headers=headers)
        assert export.status_code == 200, export.text
        assert [row["event_id"] for row in csv.DictReader(io.StringIO(export.text))] == [event["event_id"]]
        parquet = client.get(f"{EVENTS}/export?format=parquet", headers=headers)
        assert parquet.status_code == 200


def test_an_admin_exports_another_users_events_and_others_may_not(client, device, other_device, admin):
    event = make_event()
    client.post(URL, json=make_batch([event]), headers=device.headers)
    export = client.get(f"{EVENTS}/export?user={device.user}", headers=admin.headers)
    assert export.status_code == 200
    assert [row["event_id"] for row in csv.DictReader(io.StringIO(export.text))] == [event["event_id"]]
    own = client.get(f"{EVENTS}/export", headers=admin.headers)
    assert list(csv.DictReader(io.StringIO(own.text))) == []
    refused = client.get(f"{EVENTS}/export?user={device.user}", headers=other_device.headers)
    assert refused.status_code == 403
    assert client.get(f"{EVENTS}/export?user=no-such-user-xyz", headers=admin.headers).status_code == 404


def test_unknown_tokens_and_users_are_refused(client, settings: Settings):
    assert client.get(EVENTS, headers={"Authorization": "Bearer floyo_nope"}).json()["error"]["code"] == (
        "invalid_token"
    )
    stranger = client.get(EVENTS, headers=jwt_headers(settings, "nobody-at-all-xyz"))
    assert stranger.status_code == 401
    assert stranger.json()["error"]["code"] == "unknown_user"
