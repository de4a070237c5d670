"""Schemathesis over serving's operations of the OpenAPI document (suggestions, feedback, workflows, catalog,
activity, patterns, models, operations, me) against a real ``floyo serve``: no 5xx, and every answer has a declared
status, content type and body schema. The caller is an admin with suggestions and a workflow, so the generated
requests reach the answers and not only the 403s and 404s. Bounded examples per operation so the suite stays fast."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute
from sqlalchemy import create_engine

from serving.app import ROUTERS
from tests.serving.api_helpers import make_suggestion_factory, workflow
from tests.utils.factories import Device, make_device
from tests.utils.openapi_fuzz import fuzz_operations
from tests.utils.server import LiveServer, running_server

# serving's own routers (ingest's are fuzzed by tests/ingest/test_schemathesis.py)
Ids = dict[str, list[Any]]
SERVING_PATHS = {r.path for router in ROUTERS for r in router.routes if isinstance(r, APIRoute) and r.include_in_schema}


@pytest.fixture(scope="module")
def live(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, Device, Ids]]:
    env = {
        "FLOYO_ENV": "test", "FLOYO_DATABASE_URL": database_url, "FLOYO_LOG_FORMAT": "json",
        "FLOYO_DATA_DIR": str(tmp_path_factory.mktemp("fuzz-serving")), "FLOYO_MAX_BODY_BYTES": str(256 * 1024),
    }  # fmt: skip
    engine = create_engine(database_url)
    try:
        device = make_device(engine, admin=True)
        suggest = make_suggestion_factory(engine)
        suggestion_ids = [suggest(device.user_id, score=score) for score in (0.9, 0.7, 0.5, 0.3)]
    finally:
        engine.dispose()
    with running_server(env) as server:
        assert server.proc.poll() is None
        workflow_ids = []
        for name in ("a", "b", "c"):
            created = httpx.post(f"{server.url}/api/v1/workflows", json=workflow(name), headers=device.headers)
            assert created.status_code == 201, created.text
            workflow_ids.append(created.json()["id"])
        yield server, device, {"suggestion_id": suggestion_ids, "workflow_id": workflow_ids}


def test_serving_paths_are_the_ones_the_issue_names() -> None:
    assert {"/api/v1/me", "/api/v1/suggestions", "/api/v1/suggestions/{suggestion_id}/feedback", "/api/v1/workflows",
            "/api/v1/workflows/{workflow_id}", "/api/v1/workflows/{workflow_id}/versions", "/api/v1/catalog",
            "/api/v1/activity", "/api/v1/patterns", "/api/v1/models", "/api/v1/operations",
            "/api/v1/workflows/{workflow_id}/approval", "/api/v1/workflows/{workflow_id}/runs",
            "/api/v1/workflows/{workflow_id}/outcome"} <= SERVING_PATHS  # fmt: skip


@pytest.mark.slow
def test_serving_conforms_to_its_openapi(live: tuple[LiveServer, Device, Ids]) -> None:
    """Every serving operation, with generated parameters and bodies (and, half the time, ids that exist)."""
    server, device, ids = live
    calls = fuzz_operations(server.url, device.headers, SERVING_PATHS, max_examples=15, path_values=ids)
    assert len(calls) >= 5 * len({label for label, _ in calls})
    assert any(status == 200 for _, status in calls)
    assert not [line for line in server.log_lines() if '"level":"ERROR"' in line]
