"""A scratch database with a few synthetic personas stored, and the FLOYO_* environment pointing at it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from features.synth import generate
from floyo.demo_data import store
from tests.features.helpers import LakeDB, lake_db
from tests.utils.env import environment


@contextmanager
def job_env(database_url: str, tmp: Path, monkeypatch: pytest.MonkeyPatch, *, personas: int = 3) -> Iterator[LakeDB]:
    """``personas`` synthetic people over 8 days in a fresh database; settings, engine and MLflow store per test."""
    with lake_db(database_url, tmp / "data") as db:
        if personas:
            data = generate(personas=personas, days=8, seed=0, end=date(2026, 11, 1))
            store(data, db.engine, db.settings, tmp / "truth.json")
        env = {**db.env, "FLOYO_RETENTION_DAYS": "0", "FLOYO_MLFLOW_URI": f"sqlite:///{tmp / 'mlflow.db'}"}
        with environment(env, monkeypatch):
            yield db


def job_rows(engine: Engine) -> list[dict[str, Any]]:
    """Every recorded run, oldest first."""
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT * FROM job_runs ORDER BY id"))
        return [dict(r._mapping) for r in rows]
