"""Schemathesis over every ingest operation of the OpenAPI document, against a real uvicorn (`floyo serve`): no 5xx, and every answer has a declared
status, content type and body schema. Bounded examples per operation so the suite stays fast."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.routing import APIRoute
from sqlalchemy import create_engine

from ingest.app import ROUTERS
from tests.utils.factories import Device, make_device
from tests.utils.openapi_fuzz import fuzz_operations
from tests.utils.server import LiveServer, running_server

# the operations of ingest's routers (``floyo serve`` serves them inside serving.app, beside serving's own, which
# tests/serving/test_schemathesis.py fuzzes)
INGEST_PATHS = {r.path for router in ROUTERS for r in router.routes if isinstance(r, APIRoute) and r.include_in_schema}


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
    calls = fuzz_operations(server.url, device.headers, INGEST_PATHS, max_examples=30)
    labels = {label for label, _ in calls}
    assert len(labels) >= 5  # each operation was really called
    assert len(calls) >= 5 * len(labels)
