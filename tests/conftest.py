"""Shared fixtures: a real PostgreSQL test database migrated once per run, settings per test, the app."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from floyo.db import get_engine, migrate, reset_engine
from floyo.settings import Settings, get_settings
from tests.utils.db import EMBEDDED_TEST_PG, test_database_url
from tests.utils.factories import Device, make_device


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """The test database, owned by a NOSUPERUSER role and migrated to head (as that role) once per run.

    Without FLOYO_TEST_DATABASE_URL the run starts an embedded server; it stops it at the end (a run leaves
    running only what was running before it).
    """
    from floyo.db.embedded import stop_embedded

    starts_embedded = "FLOYO_TEST_DATABASE_URL" not in os.environ and not (EMBEDDED_TEST_PG / "postmaster.pid").exists()
    url = test_database_url()
    migrate.upgrade(url)
    yield url
    if starts_embedded:
        reset_engine()
        stop_embedded(EMBEDDED_TEST_PG)


@pytest.fixture
def env(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """FLOYO_* variables pointing every part at the test database and a temporary data dir."""
    values = {
        "FLOYO_ENV": "test",
        "FLOYO_DATABASE_URL": database_url,
        "FLOYO_DATA_DIR": str(tmp_path / "data"),
        "FLOYO_MLFLOW_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
        "FLOYO_LOG_FORMAT": "json",
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    return values


@pytest.fixture
def settings(env: dict[str, str]) -> Iterator[Settings]:
    """Fresh settings read from ``env``; the engine is rebuilt for each test."""
    get_settings.cache_clear()
    reset_engine()
    yield get_settings()
    reset_engine()
    get_settings.cache_clear()


@pytest.fixture
def engine(settings: Settings) -> Engine:
    return get_engine()


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    """The API in process (lifespan run), for tests that do not need a real socket."""
    from ingest.app import create_app

    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def device(engine: Engine) -> Device:
    """A fresh user with one device token."""
    return make_device(engine)
