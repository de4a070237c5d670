"""The same pipeline code as Celery tasks: a real worker with beat (a subprocess) on the local Redis."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from floyo.settings import get_settings
from jobs.celery_app import TASK, create_celery
from models import tracking
from models.train import FAMILIES
from tests.features.helpers import LakeDB
from tests.jobs.helpers import job_env, job_rows

REDIS_URL = os.environ.get("FLOYO_TEST_REDIS_URL", "redis://127.0.0.1:6379/7")  # a database of our own


@pytest.fixture
def broker() -> Iterator[str]:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.ConnectionError:
        pytest.skip(f"no Redis at {REDIS_URL}")
    client.flushdb()
    yield REDIS_URL
    client.flushdb()
    client.close()


@pytest.fixture
def worker_env(broker: str, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LakeDB]:
    with job_env(database_url, tmp_path, monkeypatch) as db:
        monkeypatch.setenv("FLOYO_BROKER_URL", broker)
        monkeypatch.setenv("FLOYO_JOB_INTERVAL", "2s")
        get_settings.cache_clear()
        yield db


def _wait_for(condition, *, deadline_s: float, what: str, worker: subprocess.Popen[bytes], log: Path) -> None:
    end = time.monotonic() + deadline_s
    while not condition():
        if worker.poll() is not None:
            pytest.fail(f"the worker exited ({worker.returncode}) before {what}:\n{log.read_text()[-3000:]}")
        if time.monotonic() > end:
            pytest.fail(f"no {what} within {deadline_s} s:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)  # polling an observable condition, with a deadline


def test_worker_with_beat_runs_the_pipeline_task(worker_env: LakeDB, tmp_path: Path) -> None:
    log = tmp_path / "worker.log"
    with log.open("wb") as out:
        worker = subprocess.Popen(
            [sys.executable, "-m", "floyo", "job", "worker"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=os.environ.copy(),
        )
    try:
        result = create_celery(get_settings()).send_task(TASK, kwargs={"trigger": "celery"}).get(timeout=120)
        assert result["status"] in {"succeeded", "skipped"}, result  # beat may have trained just before
        _wait_for(
            lambda: {"celery", "beat"} <= {r["trigger"] for r in job_rows(worker_env.engine)},
            deadline_s=60, what="run from beat", worker=worker, log=log,
        )  # fmt: skip
    finally:
        worker.send_signal(signal.SIGTERM)  # warm shutdown: the task in hand finishes first
        try:
            worker.wait(timeout=60)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
    rows = job_rows(worker_env.engine)
    assert [r for r in rows if r["status"] == "failed"] == []
    assert sum(bool(r["summary"].get("trained")) for r in rows) == 1  # trained once; then nothing new
    assert all(tracking.champion_version(name) == "1" for name in FAMILIES)
