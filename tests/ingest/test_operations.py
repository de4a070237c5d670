"""Operations: liveness, readiness, Prometheus metrics, request ids and JSON logs."""

from __future__ import annotations

import io
import logging
import re

import orjson
from prometheus_client.parser import text_string_to_metric_families

from floyo.db import reset_engine
from floyo.logs import JsonFormatter
from tests.utils.db import scratch_database
from tests.utils.factories import make_batch, make_event

URL = "/api/v1/telemetry"


def _samples(client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    answer = client.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(answer.text)
        for s in family.samples
    }


def test_liveness_and_readiness(client):
    assert client.get("/health").json() == {"status": "ok"}
    ready = client.get("/health/readiness")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "checks": {"database": "ok", "migrations": "ok"}}


def test_readiness_is_503_when_migrations_are_not_at_head(client_with, database_url):
    reset_engine()
    with scratch_database(database_url) as scratch:
        client = client_with(FLOYO_DATABASE_URL=scratch)
        answer = client.get("/health/readiness")
        assert answer.status_code == 503
        body = answer.json()
        assert body["status"] == "not ready"
        assert body["checks"]["database"] == "ok"
        assert body["checks"]["migrations"].startswith("at None")
        assert client.get("/health").status_code == 200
        reset_engine()


def test_readiness_is_503_when_the_database_is_unreachable(client_with):
    reset_engine()
    client = client_with(FLOYO_DATABASE_URL="postgresql://postgres@127.0.0.1:1/nothing?connect_timeout=2")
    answer = client.get("/health/readiness")
    assert answer.status_code == 503
    assert answer.json()["checks"]["database"].startswith("unreachable")
    reset_engine()


def test_metrics_count_events_by_outcome_and_requests_by_route(client, device):
    before = _samples(client)
    event = make_event()
    body = make_batch([event, make_event(), dict(event), make_event(kind="bad")])
    assert client.post(URL, json=body, headers=device.headers).json()["accepted"] == 2
    client.post(URL, json=make_batch([event]), headers=device.headers)
    client.post(URL, json=make_batch([]))  # 401
    after = _samples(client)

    def delta(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert delta("floyo_events_total", outcome="accepted") == 2
    assert delta("floyo_events_total", outcome="duplicate") == 2
    assert delta("floyo_events_total", outcome="rejected") == 1
    assert delta("floyo_http_requests_total", method="POST", route=URL, status="200") == 2
    assert delta("floyo_http_requests_total", method="POST", route=URL, status="401") == 1
    assert delta("floyo_http_request_duration_seconds_count", method="POST", route=URL) == 3


def test_request_ids_are_echoed_or_made(client):
    assert client.get("/health", headers={"X-Request-ID": "abc-123"}).headers["x-request-id"] == "abc-123"
    made = client.get("/health").headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", made)
    assert client.get("/health").headers["x-request-id"] != made
    too_long = client.get("/health", headers={"X-Request-ID": "x" * 65}).headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", too_long)
    headers = client.get("/health").headers
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"


def test_json_log_lines_carry_the_request_id(client, device):
    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        client.post(URL, json=make_batch([make_event()]), headers={**device.headers, "X-Request-ID": "log-req-7"})
        client.get("/api/v1/events", headers={**device.headers, "X-Request-ID": "log-req-8"})
    finally:
        root.removeHandler(handler)
    lines = [orjson.loads(line) for line in buf.getvalue().splitlines()]
    access = [line for line in lines if line["logger"] == "floyo.access"]
    assert [(line["request_id"], line["status"]) for line in access] == [("log-req-7", 200), ("log-req-8", 200)]
    assert access[0]["route"] == URL
    assert all({"time", "level", "message"} <= set(line) for line in lines)
    assert device.token not in buf.getvalue()


def test_the_openapi_document_describes_the_telemetry_body(client):
    schema = client.get("/openapi.json").json()
    body = schema["paths"]["/api/v1/telemetry"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/TelemetryBatch"}
    assert "Event" in schema["components"]["schemas"]
    assert client.get("/docs").status_code == 200
