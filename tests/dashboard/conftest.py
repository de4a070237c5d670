"""The dashboard against a real API (uvicorn) on the test database: one server per run, users with known data."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine

from floyo.db import get_engine, reset_engine
from floyo.settings import get_settings
from tests.serving.api_helpers import add_pattern, flow, make_suggestion_factory, rule
from tests.utils.factories import Device, make_batch, make_device, make_event
from tests.utils.server import free_port, running_server

APP = Path(__file__).resolve().parents[2] / "app_streamlit" / "app.py"


@dataclass(frozen=True)
class Stack:
    """The running API, the engine on its database, and the users the tests read."""

    url: str
    engine: Engine
    person: Device  # events today, this week and before; two suggestions
    empty: Device  # no events, no suggestions
    admin: Device
    suggestions: tuple[str, str]
    events_today: int
    events_week: int


def known_events(now: datetime) -> tuple[list[dict[str, object]], int, int]:
    """Events at known times: (events, how many today (UTC), how many in the last 7 days)."""
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    recent = [now - timedelta(seconds=30 * i) for i in range(1, 6)]  # 5 within the last 3 minutes
    older = [now - timedelta(days=3, minutes=i) for i in range(4)] + [
        now - timedelta(days=20, minutes=i) for i in range(3)
    ]
    events = [make_event(ts=t.isoformat(), path=f"thesis/c{i}.tex", root="documents") for i, t in enumerate(recent)]
    events += [make_event(ts=t.isoformat(), kind="run", path="", tool="latexmk") for t in older]
    today = sum(t >= midnight for t in recent + older)
    week = sum(t >= now - timedelta(days=7) for t in recent + older)
    return events, today, week


def add_known_patterns(engine: Engine, user_id: int) -> None:
    """Two rules and two workflows of the user's, as the pipeline's refresh writes them."""
    add_pattern(engine, "rules", user_id, 1, **rule("When you touch .tex files, you also run latexmk",
                                                    (["ext:tex"], ["run:latexmk"]), sessions=14))  # fmt: skip
    add_pattern(engine, "rules", user_id, 2, **rule("When you work in blog/, you also run pandoc",
                                                    (["dir:blog"], ["run:pandoc"]), sessions=9))  # fmt: skip
    add_pattern(engine, "workflows", user_id, 1, **flow("You modify a .tex file, then run latexmk within 60 s",
                                                        ["modify .tex", "run latexmk"], occurrences=20))  # fmt: skip
    add_pattern(engine, "workflows", user_id, 2, **flow("You modify a .tex file, then run latexmk, then open a .pdf",
                                                        ["modify .tex", "run latexmk", "open .pdf"], occurrences=8))  # fmt: skip


@pytest.fixture(scope="session")
def stack(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("dashboard")
    env = {
        "FLOYO_ENV": "test", "FLOYO_DATABASE_URL": database_url, "FLOYO_DATA_DIR": str(tmp / "data"),
        "FLOYO_MLFLOW_URI": f"sqlite:///{tmp / 'mlflow.db'}", "FLOYO_LOG_FORMAT": "json",
    }  # fmt: skip
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        get_settings.cache_clear()
        reset_engine()
        engine = get_engine()
        person, empty = make_device(engine), make_device(engine)
        admin = make_device(engine, admin=True)
        suggest = make_suggestion_factory(engine)
        first = suggest(person.user_id, score=0.9, title="Build the thesis on save")
        second = suggest(person.user_id, score=0.4, title="Convert blog posts with pandoc")
        add_known_patterns(engine, person.user_id)
        with running_server(env) as server:
            events, today, week = known_events(datetime.now(UTC))
            sent = httpx.post(f"{server.url}/api/v1/telemetry", json=make_batch(events), headers=person.headers)
            assert sent.status_code == 200, sent.text
            assert sent.json()["accepted"] == len(events), sent.text
            yield Stack(server.url, engine, person, empty, admin, (first, second), today, week)
        reset_engine()
        get_settings.cache_clear()


@pytest.fixture
def dead_api() -> str:
    """A URL where nothing listens."""
    return f"http://127.0.0.1:{free_port()}"


@pytest.fixture
def dashboard_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """The dashboard's variables start unset in every test."""
    for key in ("FLOYO_DASHBOARD_API", "FLOYO_DASHBOARD_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    assert "FLOYO_DASHBOARD_TOKEN" not in os.environ
    return monkeypatch
