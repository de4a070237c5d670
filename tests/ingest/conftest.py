"""Fixtures for the ingest tests: clients with their own limits, admins, people's JWTs, stored rows."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from floyo.settings import Settings, get_settings
from tests.utils.clients import ClientFactory, clients_with
from tests.utils.factories import Device, make_device


@pytest.fixture
def client_with(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[ClientFactory]:
    """Build an in-process client whose settings take extra ``FLOYO_*`` variables: ``client_with(FLOYO_X="1")``."""
    from ingest.app import create_app

    with clients_with(monkeypatch, create_app) as make:
        yield make


@pytest.fixture
def admin(engine: Engine) -> Device:
    """A fresh admin user with a device token."""
    return make_device(engine, admin=True)


@pytest.fixture
def other_device(engine: Engine) -> Device:
    """A second, unrelated user."""
    return make_device(engine)


@pytest.fixture
def fresh_database(database_url: str, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A migrated database of this test's own (for loads whose outcome depends on what is already stored)."""
    from floyo.db import reset_engine
    from tests.utils.db import migrated_scratch_database

    with migrated_scratch_database(database_url) as url:
        monkeypatch.setenv("FLOYO_DATABASE_URL", url)
        get_settings.cache_clear()
        reset_engine()
        yield url
        reset_engine()
