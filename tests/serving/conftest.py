"""Fixtures for the suggestions API: the composed app in process, and suggestions written as the refresh writes them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from floyo.settings import Settings
from tests.serving.api_helpers import SuggestionFactory, make_suggestion_factory


@pytest.fixture
def api(settings: Settings) -> Iterator[TestClient]:
    """``serving.app`` in process (lifespan run: engine, catalog, cache, champions)."""
    from serving.app import create_app

    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def suggest(engine: object) -> SuggestionFactory:
    """``suggest(user_id, **columns)``: a suggestion row (and the user's state) as the refresh writes them."""
    return make_suggestion_factory(engine)  # type: ignore[arg-type]
