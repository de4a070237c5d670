"""In-process API clients whose settings take extra ``FLOYO_*`` variables."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from floyo.settings import Settings, get_settings

ClientFactory = Callable[..., TestClient]


@contextmanager
def clients_with(monkeypatch: pytest.MonkeyPatch, create_app: Callable[[Settings], FastAPI]) -> Iterator[ClientFactory]:
    """``make(FLOYO_X="1")``: a client of ``create_app`` built on the settings with those variables set; every
    client made is closed (its lifespan ended) when the block ends."""
    with ExitStack() as stack:

        def make(**variables: object) -> TestClient:
            for key, value in variables.items():
                monkeypatch.setenv(key, str(value))
            get_settings.cache_clear()
            return stack.enter_context(TestClient(create_app(get_settings()), raise_server_exceptions=False))

        yield make
