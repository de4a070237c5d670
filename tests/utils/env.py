"""Pointing every part at a test's own environment for a while."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from floyo.db import reset_engine
from floyo.settings import get_settings


@contextmanager
def environment(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Set ``env``, then settings and the engine are built afresh from it; both are dropped again at the end (the
    variables go with ``monkeypatch``)."""
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    reset_engine()
    try:
        yield
    finally:
        reset_engine()
        get_settings.cache_clear()
