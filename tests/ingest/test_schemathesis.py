"""Schemathesis over every ingest operation of the OpenAPI document, against a real uvicorn (`floyo serve`): no 5xx, and every answer has a declared
status, content type and body schema. Bounded examples per operation so the suite stays fast."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi.routing import APIRoute
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import create_engine

from ingest.app import ROUTERS
from tests.utils.factories import Device, make_device
from tests.utils.server import LiveServer, running_server

# the operations of ingest's routers (``floyo serve`` serves them inside serving.app, beside serving's own)
INGEST_PATHS = {r.path for router in ROUTERS for r in router.routes if isinstance(r, APIRoute) and r.include_in_schema}
CHECKS = (not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance)


@pytest.fixture(scope="module")
def live(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, Device]]:
    env = {
        "FLOYO_ENV": "test", "FLOYO_DATABASE_URL": database_url, "FLOYO_LOG_FORMAT": "json",
        "FLOYO_DATA_DIR": str(tmp_path_factory.mktemp("fuzz-data")), "FLOYO_MAX_BODY_BYTES": str(256 * 1024),
    }  # fmt: skip
    engine = create_engine(database_url)
    try:
        device = make_device(engine)
    finally:
        engine.dispose()
    with running_server(env) as server:
        yield server, device


@pytest.mark.slow
def test_the_api_conforms_to_its_openapi(live: tuple[LiveServer, Device]) -> None:
    """Every operation, with generated parameters and bodies (schemathesis's strategies driven by Hypothesis)."""
    server, device = live
    api = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    operations = []
    for result in api.get_all_operations():
        assert isinstance(result, Ok), result  # every operation's schema is valid
        if result.ok().path in INGEST_PATHS:  # serving's routes are fuzzed with serving's tests
            operations.append(result.ok())
    assert len(operations) >= 5

    calls: list[tuple[str, int]] = []
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def conforms(case: Any) -> None:
            response = case.call_and_validate(base_url=server.url, headers=device.headers, checks=CHECKS)
            calls.append((case.operation.label, response.status_code))

        conforms()
    by_operation = {label for label, _ in calls}
    assert by_operation == {operation.label for operation in operations}  # each one was really called
    assert len(calls) >= 5 * len(operations)
