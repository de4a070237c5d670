"""The pipeline job on a real PostgreSQL, a real lake and a temporary MLflow store: runs recorded, idempotent,
one at a time (advisory lock), failures recorded, the interval parsed strictly."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

import mlflow
from features.synth import generate
from floyo.cli import app
from floyo.demo_data import store
from floyo.settings import get_settings
from jobs.celery_app import TASK, create_celery, worker_argv
from jobs.pipeline import JobFailed, job_lock, run_pipeline
from jobs.schedule import parse_interval, run_schedule
from models import tracking
from models.train import FAMILIES
from tests.features.helpers import LakeDB
from tests.jobs.helpers import job_env, job_rows


@pytest.fixture
def jdb(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LakeDB]:
    with job_env(database_url, tmp_path, monkeypatch) as db:
        yield db
        assert mlflow.active_run() is None


def test_run_trains_records_and_is_idempotent(jdb: LakeDB) -> None:
    first = run_pipeline(get_settings(), trigger="test")
    assert first.status == "succeeded", first
    assert [m["name"] for m in first.summary["models"]] == [
        "floyo-next-action", "floyo-cochange", "floyo-rules", "floyo-workflows",
    ]  # fmt: skip
    assert all(tracking.champion_version(m["name"]) == "1" for m in first.summary["models"])
    assert first.summary["suggestions"]["users"] == 4  # three personas and the fixture's device user
    assert first.summary["suggestions"]["model_version"] == f"lake@{first.summary['watermark']}"
    with jdb.engine.begin() as conn:  # as before suggestions existed: nothing refreshed for this lake yet
        conn.execute(text("DELETE FROM suggestion_state"))
    again = run_pipeline(get_settings(), trigger="test")  # nothing new: nothing trained, nothing registered
    assert (again.status, again.reason) == ("skipped", "no new events since the last training")
    # but the missing suggestions were built, and the adopted workflows measured (time passes without events)
    assert set(again.steps) == {"export_features", "suggestions", "outcomes"}
    assert again.summary["outcomes"]["workflows"] == 0  # nobody adopted a workflow yet
    with jdb.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM suggestion_state")).scalar() == 4
    assert "suggestions" not in run_pipeline(get_settings(), trigger="test").steps  # now they are current
    assert tracking.champion_version("floyo-rules") == "1"
    assert len(tracking.list_models()) == 4

    data = generate(personas=4, days=8, seed=0, end=date(2026, 11, 1))  # a fourth person arrives
    store(type(data)(data.users[3:], data.truth), jdb.engine, jdb.settings, jdb.settings.data_dir / "t.json")
    third = run_pipeline(get_settings(), trigger="test")
    assert third.status == "succeeded"
    assert third.summary["exported"] > 0
    assert {m["version"] for m in third.summary["models"]} == {"2"}

    rows = job_rows(jdb.engine)
    assert [(r["trigger"], r["status"]) for r in rows] == [
        ("test", "succeeded"),
        ("test", "skipped"),
        ("test", "skipped"),
        ("test", "succeeded"),
    ]
    assert set(rows[0]["steps"]) == {
        "export_features", "train_evaluate_promote", "ranker", "patterns", "suggestions", "outcomes",
    }  # fmt: skip
    assert rows[0]["summary"]["ranker"]["trained"] is False  # nobody has answered a suggestion yet
    assert rows[0]["duration_s"] > 0
    assert rows[0]["finished_at"] is not None
    assert rows[0]["summary"]["trained"] is True
    assert rows[0]["summary"]["watermark"] > 0


def test_a_second_run_while_one_holds_the_lock_says_already_running(jdb: LakeDB) -> None:
    with job_lock(jdb.engine) as held:  # another process's run, as far as PostgreSQL can tell
        assert held
        result = run_pipeline(get_settings(), trigger="test")
        assert (result.status, result.reason) == ("skipped", "already running")
        cli = CliRunner().invoke(app, ["job", "run"])
        assert cli.exit_code == 0, cli.output
        assert "skipped (already running)" in cli.stdout
    assert [r["status"] for r in job_rows(jdb.engine)] == ["skipped", "skipped"]
    assert tracking.list_models() == []  # nothing was trained behind the lock


def test_a_run_left_running_by_a_dead_process_is_abandoned_and_failures_are_recorded(
    jdb: LakeDB, monkeypatch: pytest.MonkeyPatch
) -> None:
    with jdb.engine.begin() as conn:
        conn.execute(text("INSERT INTO job_runs (trigger, status) VALUES ('cli', 'running')"))
    blocker = jdb.settings.data_dir / "not-a-dir"
    blocker.parent.mkdir(parents=True, exist_ok=True)
    blocker.write_text("a file where the lake should be")
    monkeypatch.setenv("FLOYO_LAKE_DIR", str(blocker))
    get_settings.cache_clear()
    cli = CliRunner().invoke(app, ["job", "run"])
    assert cli.exit_code == 1
    message = cli.stderr.strip().splitlines()
    assert len(message) == 1, cli.stderr  # one line, no traceback
    assert message[0].startswith("error: job run ")
    assert " failed: " in message[0]
    rows = job_rows(jdb.engine)
    assert [r["status"] for r in rows] == ["abandoned", "failed"]
    assert rows[1]["error"]
    assert rows[1]["steps"]["export_features"] >= 0
    listed = CliRunner().invoke(app, ["job", "runs"])
    assert listed.exit_code == 0
    assert "failed" in listed.stdout
    assert "abandoned" in listed.stdout


@pytest.mark.parametrize(("value", "seconds"), [("30m", 1800), ("45s", 45), ("2h", 7200), ("1d", 86400)])
def test_interval_parses(value: str, seconds: int) -> None:
    assert parse_interval(value) == seconds


@pytest.mark.parametrize("value", ["30", "0m", "1.5h", "30 min", "m", "-5m", "30M", ""])
def test_interval_is_strict(value: str) -> None:
    with pytest.raises(ValueError, match="FLOYO_JOB_INTERVAL must be"):
        parse_interval(value)


def test_schedule_refuses_a_bad_interval_in_one_line(jdb: LakeDB, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOYO_JOB_INTERVAL", "half an hour")
    get_settings.cache_clear()
    result = CliRunner().invoke(app, ["job", "schedule"])
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        "error: FLOYO_JOB_INTERVAL must be a positive whole number and a unit s, m, h or d (e.g. 30m), not 'half an hour'"
    ]


def test_schedule_loop_runs_on_its_interval(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with job_env(database_url, tmp_path, monkeypatch, personas=0) as db:  # an empty lake: quick runs
        monkeypatch.setenv("FLOYO_JOB_INTERVAL", "1s")
        get_settings.cache_clear()
        seen: list[str] = []
        assert run_schedule(get_settings(), max_runs=2, on_result=lambda r: seen.append(r.reason)) == 2
        assert seen == ["no events in the lake"] * 2
        rows = job_rows(db.engine)
        assert [(r["trigger"], r["status"]) for r in rows] == [("schedule", "skipped")] * 2
        assert (rows[1]["started_at"] - rows[0]["started_at"]).total_seconds() >= 1


def test_job_and_mlflow_help() -> None:
    for args in (["job", "run", "--help"], ["job", "worker", "--help"], ["mlflow", "ui", "--help"]):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
    assert "--port" in CliRunner().invoke(app, ["mlflow", "ui", "--help"]).stdout


def _break_the_lake(db: LakeDB, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file where the lake's directory should be: the export step fails for real."""
    blocker = db.settings.data_dir / "not-a-dir"
    blocker.parent.mkdir(parents=True, exist_ok=True)
    blocker.write_text("a file where the lake should be")
    monkeypatch.setenv("FLOYO_LAKE_DIR", str(blocker))
    get_settings.cache_clear()


def test_a_failed_run_is_recorded_then_raises(jdb: LakeDB, monkeypatch: pytest.MonkeyPatch) -> None:
    _break_the_lake(jdb, monkeypatch)
    with pytest.raises(JobFailed) as failed:
        run_pipeline(get_settings(), trigger="test")
    rows = job_rows(jdb.engine)
    assert [(r["id"], r["status"]) for r in rows] == [(failed.value.details["run_id"], "failed")]
    assert rows[0]["error"]
    assert rows[0]["finished_at"] is not None


def test_the_celery_task_fails_when_the_run_fails(jdb: LakeDB, monkeypatch: pytest.MonkeyPatch) -> None:
    _break_the_lake(jdb, monkeypatch)
    monkeypatch.setenv("FLOYO_BROKER_URL", "memory://")
    get_settings.cache_clear()
    celery = create_celery(get_settings())
    outcome = celery.tasks[TASK].apply(kwargs={"trigger": "celery"})  # the real task, run eagerly in this process
    assert outcome.state == "FAILURE"
    assert isinstance(outcome.result, JobFailed)
    assert [(r["trigger"], r["status"]) for r in job_rows(jdb.engine)] == [("celery", "failed")]


def test_the_schedule_loop_goes_on_after_a_failed_run(jdb: LakeDB, monkeypatch: pytest.MonkeyPatch) -> None:
    _break_the_lake(jdb, monkeypatch)
    monkeypatch.setenv("FLOYO_JOB_INTERVAL", "1s")
    get_settings.cache_clear()
    seen: list[str] = []
    assert run_schedule(get_settings(), max_runs=2, on_result=lambda r: seen.append(r.status)) == 2
    assert seen == ["failed", "failed"]
    assert [r["status"] for r in job_rows(jdb.engine)] == ["failed", "failed"]


def test_a_scoped_training_cannot_fool_the_unchanged_check(jdb: LakeDB) -> None:
    """The issue's fault 3: a log run promoted itself globally, then the job skipped retraining."""
    from tests.models.helpers import REPO

    assert run_pipeline(get_settings(), trigger="test").status == "succeeded"
    cli = CliRunner().invoke(app, ["train", "--events", str(REPO / "data" / "samples" / "flask.events.csv.gz")])
    assert cli.exit_code == 0, cli.output
    again = run_pipeline(get_settings(), trigger="test")
    assert (again.status, again.reason) == ("skipped", "no new events since the last training")
    assert all(tracking.champion_version(name) == "1" for name in FAMILIES)
    assert {tracking.champion_scope(name) for name in FAMILIES} == {"lake"}


@pytest.mark.parametrize(("concurrency", "pool"), [(1, ["--pool=solo"]), (3, ["--pool=prefork", "--concurrency=3"])])
def test_the_worker_honours_concurrency(concurrency: int, pool: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from celery import Celery

    started: list[list[str]] = []
    monkeypatch.setattr(Celery, "worker_main", lambda self, argv: started.append(argv))
    monkeypatch.setenv("FLOYO_BROKER_URL", "memory://")
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["job", "worker", "--concurrency", str(concurrency)])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert started == [["worker", "--beat", *pool, "--loglevel=INFO"]]
    assert worker_argv(concurrency=concurrency) == started[0]
