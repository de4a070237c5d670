"""Nothing deleted without being asked: retention is off unless configured, says what it deletes before it does,
has a dry run, and forgets the ids of what it deleted so a log sent again is stored again."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from floyo.cli import app
from floyo.db import reset_engine
from floyo.settings import Settings, get_settings
from ingest.lake_retention import RetentionPlan, retention_cutoff
from jobs.refresh import export_and_build
from tests.features.helpers import LakeDB, days_ago, events_at, lake_db, lake_files, lake_seqs

Env = Callable[[int | None], LakeDB]


@pytest.fixture
def with_retention(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    """``with_retention(days)``: a scratch database and lake, FLOYO_* pointing at them; ``None``: the variable
    unset, as after a fresh install."""
    with lake_db(database_url, tmp_path / "data") as db:

        def configure(days: int | None) -> LakeDB:
            for key, value in db.env.items():
                monkeypatch.setenv(key, value)
            monkeypatch.delenv("FLOYO_LAKE_DIR", raising=False)
            if days is None:
                monkeypatch.delenv("FLOYO_RETENTION_DAYS", raising=False)
            else:
                monkeypatch.setenv("FLOYO_RETENTION_DAYS", str(days))
            get_settings.cache_clear()
            reset_engine()
            db.settings = get_settings()
            return db

        yield configure
        reset_engine()
        get_settings.cache_clear()


def _old_and_new(db: LakeDB) -> tuple[list[dict[str, Any]], int]:
    """Like the demo's sample log: years of history, a little of it recent. (old events, how many in all)"""
    old = events_at(days_ago(3000), 6, step=timedelta(days=40)) + events_at(days_ago(500), 4, step=timedelta(days=1))
    recent = events_at(days_ago(3), 5, step=timedelta(hours=2))
    db.ingest(old)
    db.ingest(recent)
    return old, len(old) + len(recent)


def _counts(db: LakeDB) -> tuple[int, int]:
    with db.engine.connect() as conn:
        events = conn.execute(text("SELECT count(*) FROM events")).scalar_one()
        keys = conn.execute(text("SELECT count(*) FROM event_keys")).scalar_one()
    return int(events), int(keys)


def test_retention_is_off_unless_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FLOYO_RETENTION_DAYS", raising=False)
    assert Settings(_env_file=None).retention_days == 0


def test_export_after_a_demo_like_ingest_deletes_nothing_by_default(with_retention: Env) -> None:
    db = with_retention(None)
    _, total = _old_and_new(db)

    result = CliRunner().invoke(app, ["export"])

    assert result.exit_code == 0, result.output
    assert f"exported {total} events" in result.output
    assert "retention off" in result.output
    assert "deleting" not in result.output
    assert _counts(db) == (total, total)
    assert len(lake_seqs(db.settings.lake_path)) == total
    # the job's export-and-build deletes nothing either
    summary = export_and_build(db.settings, engine=db.engine)
    assert summary["export"]["retention"] is None
    assert _counts(db) == (total, total)


def test_dry_run_shows_what_would_go_and_deletes_nothing(with_retention: Env) -> None:
    db = with_retention(365)
    _, total = _old_and_new(db)
    runner = CliRunner()
    assert runner.invoke(app, ["export", "--no-retention"]).exit_code == 0
    files = lake_files(db.settings.lake_path)

    result = runner.invoke(app, ["retention", "--dry-run"])

    assert result.exit_code == 0, result.output
    cutoff = retention_cutoff(365)
    assert f"deletes events before {cutoff}: 10 rows in PostgreSQL and 10 lake dates" in result.output
    assert "dry run" in result.output
    assert "nothing deleted" in result.output
    assert _counts(db) == (total, total)
    assert lake_files(db.settings.lake_path) == files


def test_retention_command_says_when_it_is_off_and_does_nothing(with_retention: Env) -> None:
    db = with_retention(0)
    _, total = _old_and_new(db)
    result = CliRunner().invoke(app, ["retention"])
    assert result.exit_code == 0, result.output
    assert "retention is off" in result.output
    assert _counts(db) == (total, total)


def test_configured_retention_says_first_deletes_and_a_reimport_is_stored_again(with_retention: Env) -> None:
    db = with_retention(365)
    old, total = _old_and_new(db)

    result = CliRunner().invoke(app, ["export"])

    assert result.exit_code == 0, result.output
    announced = result.output.index("deleting now: retention (FLOYO_RETENTION_DAYS=365) deletes events before")
    assert "10 rows in PostgreSQL" in result.output
    assert announced < result.output.index(f"exported {total} events")
    assert "retention deleted 10 rows and 10 lake dates" in result.output
    assert _counts(db) == (total - 10, total - 10)  # the deleted events' ids went with them
    assert len(lake_seqs(db.settings.lake_path)) == total - 10
    quiet = CliRunner().invoke(app, ["export"])  # nothing old left: no announcement, the summary says 0
    assert "deleting now" not in quiet.output
    assert "retention deleted 0 rows and 0 lake dates" in quiet.output

    # the same log sent again: stored again, not swallowed as duplicates of rows that no longer exist
    assert db.ingest(old) == len(old)
    assert _counts(db) == (total, total)


def test_retention_command_deletes_with_the_same_summary(with_retention: Env) -> None:
    db = with_retention(365)
    _, total = _old_and_new(db)
    runner = CliRunner()
    assert runner.invoke(app, ["export", "--no-retention"]).exit_code == 0

    result = runner.invoke(app, ["retention"])

    assert result.exit_code == 0, result.output
    assert "deleting now: retention (FLOYO_RETENTION_DAYS=365)" in result.output
    assert f"deleted 10 rows and 10 lake dates before {retention_cutoff(365)}" in result.output
    assert _counts(db) == (total - 10, total - 10)
    assert len(lake_seqs(db.settings.lake_path)) == total - 10


def test_the_job_logs_what_retention_deletes_before_deleting(
    with_retention: Env, caplog: pytest.LogCaptureFixture
) -> None:
    db = with_retention(365)
    _, total = _old_and_new(db)
    seen: list[tuple[RetentionPlan, tuple[int, int]]] = []

    with caplog.at_level(logging.WARNING, logger="jobs.refresh"):
        summary = export_and_build(db.settings, engine=db.engine)
    logged = [r.getMessage() for r in caplog.records if r.name == "jobs.refresh"]
    assert any("deletes events before" in m and "10 rows" in m for m in logged), logged
    assert summary["export"]["retention"]["rows"] == 10
    assert summary["export"]["retention_rows_deleted"] == 10

    db.ingest(events_at(days_ago(400), 2, step=timedelta(hours=1)))
    export_and_build(db.settings, engine=db.engine, on_retention=lambda plan: seen.append((plan, _counts(db))))
    assert [(p.rows, counts) for p, counts in seen] == [(2, (total - 10 + 2, total - 10 + 2))]  # before deleting
    assert _counts(db) == (total - 10, total - 10)


@pytest.mark.slow
def test_ingest_keeps_flowing_while_retention_deletes(with_retention: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    """Old months detached concurrently, the rest in small batches: a batch sent meanwhile waits for one small
    transaction at most, never for the whole deletion (which held an ACCESS EXCLUSIVE lock on events before)."""
    import threading
    import time

    from ingest import lake_retention
    from ingest.lake_export import run_retention

    db = with_retention(30)
    # two whole old months (dropped as partitions) and old rows in the month of the cut-off (deleted in batches)
    old = events_at(days_ago(95), 20_000, step=timedelta(minutes=2)) + events_at(
        days_ago(40), 20_000, step=timedelta(seconds=8)
    )
    for start in range(0, len(old), 5000):
        assert db.ingest(old[start : start + 5000]) == 5000
    monkeypatch.setattr(lake_retention, "BATCH_ROWS", 50)  # many short transactions: a long retention
    latencies: list[float] = []
    done = threading.Event()
    outcome: list[object] = []

    def retain() -> None:
        try:
            outcome.append(run_retention(db.engine, db.settings))
        except Exception as exc:  # reported below
            outcome.append(exc)
        finally:
            done.set()

    worker = threading.Thread(target=retain)
    started = time.monotonic()
    worker.start()
    while not done.is_set():
        batch = events_at(days_ago(1), 50, step=timedelta(seconds=1))
        sent = time.monotonic()
        assert db.ingest(batch) == 50
        latencies.append(time.monotonic() - sent)
    worker.join()
    took = time.monotonic() - started
    plan = outcome[0]
    assert isinstance(plan, RetentionPlan), plan
    assert plan.rows == len(old)
    assert _counts(db) == (50 * len(latencies), 50 * len(latencies))  # only the new events and their ids are left
    # enough batches during the retention for the latencies to say something (counted, not timed: a fast machine
    # finishes the whole retention in under a second)
    assert len(latencies) >= 10, f"only {len(latencies)} batches were stored during {took:.1f} s of retention"
    assert max(latencies) < took / 4, f"a batch waited {max(latencies):.2f} s of {took:.1f} s"
