"""GET /api/v1/operations against real PostgreSQL: admins only; ingest, export lag, job runs, readiness."""

from __future__ import annotations

import uuid

from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from tests.utils.factories import Device, make_batch, make_device, make_event


def test_operations_figures_for_an_admin(api: TestClient, device: Device, engine: Engine):
    sent = api.post("/api/v1/telemetry", json=make_batch([make_event(), make_event(), {"kind": "nope"}]),
                    headers=device.headers)  # fmt: skip
    assert sent.status_code == 200, sent.text
    assert sent.json()["accepted"] == 2, sent.text
    job = f"job-{uuid.uuid4().hex[:8]}"
    with engine.begin() as conn:  # the newest run in the table, whatever other tests left
        conn.execute(
            text("INSERT INTO job_runs (job, trigger, status, started_at, error) "
                 "VALUES (:job, 'cli', 'failed', now() + interval '1 hour', 'lake unreachable')"),
            {"job": job},
        )  # fmt: skip
    admin = make_device(engine, admin=True)
    response = api.get("/api/v1/operations", headers=admin.headers)
    assert response.status_code == 200, response.text
    data = response.json()
    assert data["ingest"]["last_hour"] >= 2
    assert data["ingest"]["last_24h"] >= data["ingest"]["last_hour"]
    assert data["events_by_outcome"]["accepted"] >= 2
    assert data["events_by_outcome"]["rejected"] >= 1
    assert data["export"]["pending_events"] >= 2
    assert data["export"]["lag_s"] >= 0
    mine = [r for r in data["job_runs"] if r["job"] == job]  # other tests add runs too: found by its own name
    assert [(r["status"], r["error"]) for r in mine] == [("failed", "lake unreachable")]
    assert data["failures_7d"] >= 1
    assert data["readiness"]["ready"] is True
    assert data["readiness"]["checks"]["database"] == "ok"
    assert "models" in data["readiness"]


def test_operations_are_for_admins_only(api: TestClient, device: Device):
    response = api.get("/api/v1/operations", headers=device.headers)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "admins_only"
    assert api.get("/api/v1/operations").status_code == 401


def test_rejected_events_are_counted_by_the_field_at_fault(api: TestClient, device: Device):
    admin = make_device(api.app.state.engine, admin=True)  # type: ignore[attr-defined]

    def by_field() -> dict[str, int]:
        response = api.get("/api/v1/operations", headers=admin.headers)
        assert response.status_code == 200, response.text
        counts: dict[str, int] = response.json()["rejected_by_field"]
        return counts

    before = by_field()
    bad = [make_event(path="../../etc/shadow"), make_event(path="/etc/passwd"), make_event(kind="teleport")]
    sent = api.post("/api/v1/telemetry", json=make_batch([make_event(), *bad]), headers=device.headers)
    assert sent.json()["rejected"] == 3, sent.text
    after = by_field()
    grown = {f: n - before.get(f, 0) for f, n in after.items() if n != before.get(f, 0)}
    assert grown == {"path": 2, "kind": 1}  # the field, never the free text (a bounded label)
