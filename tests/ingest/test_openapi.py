"""The OpenAPI document declares the real answers: each route's model for 2xx, the error body for every error,
and what the API actually answers validates against what it declares."""

from __future__ import annotations

from typing import Any

from ingest.responses import ErrorBody
from ingest.routes.events import EventPage
from ingest.routes.health import Liveness, Readiness
from ingest.routes.telemetry import TelemetryResult
from tests.utils.factories import make_batch, make_event

REF = "#/components/schemas/"


def _operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method, op) for path, ops in schema["paths"].items() for method, op in ops.items()]


def test_every_answer_is_declared_with_its_model(client):
    schema = client.get("/openapi.json").json()
    operations = _operations(schema)
    assert {(p, m) for p, m, _ in operations} >= {
        ("/api/v1/telemetry", "post"), ("/api/v1/events", "get"), ("/api/v1/events/export", "get"),
        ("/health", "get"), ("/health/readiness", "get"),
    }  # fmt: skip
    for path, method, op in operations:
        for status, answer in op["responses"].items():
            content = answer.get("content", {})
            assert content, (path, method, status)
            for media_type, body in content.items():
                declared = body["schema"]
                if media_type == "application/json":
                    assert "$ref" in declared, (path, method, status, declared)  # never {"type": "string"}
                if status.startswith(("4", "5")) and path.startswith("/api/"):
                    assert declared == {"$ref": REF + "ErrorBody"}, (path, method, status)
        if path.startswith("/api/"):
            assert {"401", "422", "429", "503"} <= set(op["responses"]), (path, method)
            assert "HTTPValidationError" not in str(op["responses"])  # our 422 body, not FastAPI's
    assert set(schema["components"]["schemas"]["ErrorBody"]["properties"]) == {"error"}


def test_real_answers_validate_against_the_declared_models(client, device):
    stored = client.post("/api/v1/telemetry", json=make_batch([make_event(), "bad"]), headers=device.headers)
    assert TelemetryResult.model_validate(stored.json()).accepted == 1
    page = client.get("/api/v1/events?limit=1", headers=device.headers)
    assert len(EventPage.model_validate(page.json()).events) == 1
    assert Liveness.model_validate(client.get("/health").json()).status == "ok"
    assert Readiness.model_validate(client.get("/health/readiness").json()).status == "ready"
    for answer, status in (
        (client.get("/api/v1/events"), 401),
        (client.get("/api/v1/events?limit=0", headers=device.headers), 422),
        (client.get("/api/v1/events?user=someone", headers=device.headers), 403),
        (client.post("/api/v1/telemetry", content=b"{", headers={**device.headers, "content-type": "application/json"}), 400),
    ):  # fmt: skip
        assert answer.status_code == status
        assert ErrorBody.model_validate(answer.json()).error.code
