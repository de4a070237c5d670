"""floyo.demo_data.ensure_lake: an empty lake is built from synthetic personas once; a lake with events is kept."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from features import lake
from floyo.demo_data import ensure_lake
from tests.jobs.helpers import job_env


def test_an_empty_lake_is_built_once_from_personas(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    with job_env(database_url, tmp_path, monkeypatch, personas=0) as db:
        assert not lake.has_events(db.settings.lake_path)
        first = ensure_lake(db.settings, personas=2, days=5, seed=3)
        assert first.built
        assert first.events == lake.events(db.settings).collect().height > 50
        assert first.truth is not None
        truth = orjson.loads(first.truth.read_bytes())
        assert truth["params"] == {**truth["params"], "personas": 2, "days": 5, "seed": 3}
        assert truth["n_events"] == first.events
        assert lake.table("sessions", db.settings).collect().height > 0  # the features were built too

        again = ensure_lake(db.settings, personas=4, days=9, seed=1)
        assert not again.built
        assert (again.events, again.truth) == (first.events, first.truth)
        assert "found" in again.describe()
