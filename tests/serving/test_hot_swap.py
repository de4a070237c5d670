"""The ranker champion: used once a user has answered, swapped under load without a failed request."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

import mlflow
from floyo.settings import Settings, get_settings
from tests.serving.api_helpers import SuggestionFactory
from tests.serving.rank_models import BrokenRanker, ScoreRanker, add_feedback, register
from tests.utils.factories import Device
from tests.utils.server import running_server


@pytest.fixture
def mlflow_store(env: dict[str, str]) -> Iterator[str]:
    """The test's own MLflow store (``env`` points FLOYO_MLFLOW_URI at a temporary SQLite file)."""
    had_mlruns = Path("mlruns").exists()
    yield env["FLOYO_MLFLOW_URI"]
    assert mlflow.active_run() is None
    assert had_mlruns or not Path("mlruns").exists(), "artifacts went to ./mlruns instead of the test's store"


def _app(settings: Settings) -> TestClient:
    from serving.app import create_app

    return TestClient(create_app(settings), raise_server_exceptions=False)


def _answer(client: TestClient | httpx.Client, device: Device) -> Any:
    response = client.get("/api/v1/suggestions", headers=device.headers)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.slow  # MLflow's store and a logged model: seconds
def test_the_champion_ranks_once_the_user_has_answered(
    mlflow_store: str, settings: Settings, device: Device, suggest: SuggestionFactory, engine: Engine
):
    register(ScoreRanker(-1.0), champion=True)
    a = suggest(device.user_id, score=0.9)
    b = suggest(device.user_id, score=0.5)
    c = suggest(device.user_id, score=0.1)
    with _app(settings) as api:
        before = _answer(api, device)
        assert [s["id"] for s in before["suggestions"]] == [a, b, c]  # no answers yet: the transparent score
        assert before["ranker"] == {"name": "transparent", "version": None}
        add_feedback(engine, device.user_id, a, "snooze")
        from tests.serving.api_helpers import set_state

        set_state(engine, device.user_id)
        after = _answer(api, device)
        assert [s["id"] for s in after["suggestions"]] == [c, b, a]
        assert after["ranker"] == {"name": "floyo-ranker", "version": "1"}
        assert api.get("/health/readiness").json()["models"]["floyo-ranker"] == "1"


@pytest.mark.slow
def test_a_ranker_that_fails_costs_its_order_not_the_answer(
    mlflow_store: str, settings: Settings, device: Device, suggest: SuggestionFactory, engine: Engine
):
    register(BrokenRanker(1.0), champion=True)
    a = suggest(device.user_id, score=0.9)
    b = suggest(device.user_id, score=0.1)
    add_feedback(engine, device.user_id, a)
    with _app(settings) as api:
        answer = _answer(api, device)
    assert [s["id"] for s in answer["suggestions"]] == [a, b]
    assert answer["ranker"] == {"name": "transparent", "version": None}


def test_a_registry_that_cannot_be_read_is_reported_and_the_transparent_score_serves(
    env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, device: Device, suggest: SuggestionFactory
):
    broken = tmp_path / "broken.db"
    broken.write_bytes(b"this is not a sqlite database" * 100)
    monkeypatch.setenv("FLOYO_MLFLOW_URI", f"sqlite:///{broken}")
    get_settings.cache_clear()
    sid = suggest(device.user_id)
    with _app(get_settings()) as api:
        assert [s["id"] for s in _answer(api, device)["suggestions"]] == [sid]
        ready = api.get("/health/readiness")
    assert ready.status_code == 200
    assert ready.json()["models"]["floyo-ranker"] is None
    assert ready.json()["models"]["error"]


@pytest.mark.slow
def test_hot_swap_under_concurrent_requests_fails_none(
    mlflow_store: str, env: dict[str, str], device: Device, suggest: SuggestionFactory, engine: Engine
):
    """A real uvicorn polls the alias every 0.2 s; moving it to v2 under 6 clients swaps the order, no error."""
    register(ScoreRanker(1.0), champion=True)
    v2 = register(ScoreRanker(-1.0), champion=False)
    ids = [suggest(device.user_id, score=s) for s in (0.9, 0.6, 0.3)]
    add_feedback(engine, device.user_id, ids[0], "snooze")
    from tests.serving.api_helpers import set_state

    set_state(engine, device.user_id)
    results: list[tuple[int, str | None, list[str]]] = []
    errors: list[str] = []
    stop = threading.Event()

    def client_loop(url: str) -> None:
        # a slow answer on a loaded machine is not a failed one: only errors and non-200s count
        with httpx.Client(base_url=url, timeout=60) as http:
            while not stop.is_set():
                try:
                    r = http.get("/api/v1/suggestions", headers=device.headers)
                    body = r.json()
                    results.append((r.status_code, body.get("ranker", {}).get("version"),
                                    [s["id"] for s in body.get("suggestions", [])]))  # fmt: skip
                except Exception as exc:  # a refused or broken connection is a failed request too
                    errors.append(repr(exc))

    # start-up imports MLflow and loads v1 before the server is ready: give a loaded machine time
    with running_server({**env, "FLOYO_MODEL_POLL_SECONDS": "0.2"}, ready_timeout=90) as server:
        threads = [threading.Thread(target=client_loop, args=(server.url,)) for _ in range(6)]
        for t in threads:
            t.start()
        try:
            _wait_for(lambda: any(v == "1" for _, v, _ in results), "answers from v1")
            from models.tracking import CHAMPION, client

            client().set_registered_model_alias("floyo-ranker", CHAMPION, v2)
            _wait_for(lambda: sum(v == v2 for _, v, _ in results[-50:]) >= 50, "50 answers in a row from v2")
        finally:
            stop.set()
            for t in threads:
                t.join()
        ready = httpx.get(f"{server.url}/health/readiness", timeout=60).json()
    assert errors == []
    assert {status for status, _, _ in results} == {200}
    assert {v for _, v, _ in results} == {"1", v2}
    for _, version, order in results:
        assert order == (ids if version == "1" else ids[::-1])
    assert ready["models"]["floyo-ranker"] == v2


def _wait_for(condition: object, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"no {what} after {timeout} s"
        time.sleep(0.05)
