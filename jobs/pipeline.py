"""The pipeline job as one plain function: export → features → train → evaluate → promote → suggestions.

One run at a time per database: a session advisory lock on a connection of its own; a second run finds the
lock taken, records a ``skipped`` run ("already running") and returns at once. Idempotent: when the export
brought nothing new since the last run that trained and every family has a champion, training is skipped.
Resumable: the export restarts from its watermark, and a run left ``running`` by a dead process is marked
``abandoned`` by the next one. Every run is a row of ``job_runs``; a failed run is recorded, then raises
``JobFailed`` so that the CLI exits non-zero and a Celery task fails where the broker and monitoring see it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

import psycopg
from sqlalchemy import Engine

from floyo.errors import FloyoError, Unavailable
from floyo.settings import Settings
from jobs import runs

log = logging.getLogger(__name__)
JOB_LOCK_KEY = 0x466C6F796F4A6F62  # "FloyoJob": one pipeline run per database
STEPS = 8  # progress steps: export and features, the training data and each of the four families, suggestions,
# outcomes
Progress = Callable[[str], None]


@dataclass
class JobResult:
    """How one run ended: ``succeeded``, ``failed`` or ``skipped`` (``reason`` says why)."""

    run_id: int
    status: str
    reason: str = ""
    seconds: float = 0.0
    steps: dict[str, float] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (what the Celery task returns)."""
        return asdict(self)

    def describe(self) -> str:
        """One line for the CLI and the logs."""
        what = {"skipped": f"skipped ({self.reason})", "failed": f"failed: {self.error}"}.get(self.status, self.status)
        steps = ", ".join(f"{k} {v:.1f} s" for k, v in self.steps.items())
        return f"job run {self.run_id} {what} in {self.seconds:.1f} s" + (f" ({steps})" if steps else "")


class JobFailed(Unavailable):
    """A pipeline run that failed; it is already recorded in ``job_runs`` (``run_id``)."""

    result: JobResult | None = None  # the run's record, when raised here (not when rebuilt by Celery)

    def __init__(self, code: str, message: str, details: Any = None) -> None:
        # (code, message, details) like every FloyoError, so Celery can rebuild it from its serialised args
        super().__init__(code, message, details)
        self.args = (code, message, details)


@contextmanager
def job_lock(engine: Engine) -> Iterator[bool]:
    """Try the job's advisory lock on a dedicated connection; yields whether this process holds it."""
    from floyo.db.engine import psycopg_conninfo

    url = engine.url.render_as_string(hide_password=False)
    with psycopg.connect(**psycopg_conninfo(url), autocommit=True) as conn:
        held = bool(conn.execute("SELECT pg_try_advisory_lock(%s)", (JOB_LOCK_KEY,)).fetchone()[0])  # type: ignore[index]
        try:
            yield held
        finally:
            if held:
                conn.execute("SELECT pg_advisory_unlock(%s)", (JOB_LOCK_KEY,))


def run_pipeline(
    settings: Settings,
    *,
    engine: Engine | None = None,
    trigger: str = "cli",
    force: bool = False,
    progress: Progress | None = None,
) -> JobResult:
    """Run the pipeline once (or record that another run holds the lock); a failed run is recorded in
    ``job_runs`` and then raises ``JobFailed``."""
    from floyo.db import get_engine

    engine = engine or get_engine()
    started = time.perf_counter()
    with job_lock(engine) as held:
        if not held:
            with engine.begin() as conn:
                run_id = runs.start_run(conn, trigger=trigger, status="running")
                result = JobResult(run_id, "skipped", reason="already running")
                runs.finish_run(conn, run_id, status="skipped", steps={}, summary={"reason": result.reason}, error=None)
            return result
        with engine.begin() as conn:
            runs.abandon_stale(conn)
            run_id = runs.start_run(conn, trigger=trigger)
        result, cause = _run_steps(settings, engine, JobResult(run_id, "succeeded"), force=force, progress=progress)
    result.seconds = round(time.perf_counter() - started, 3)
    with engine.begin() as conn:
        summary = {**result.summary, **({"reason": result.reason} if result.reason else {})}
        runs.finish_run(conn, run_id, status=result.status, steps=result.steps, summary=summary, error=result.error)
    log.info("job run finished", extra={"run_id": run_id, "status": result.status, "seconds": result.seconds})
    if result.status == "failed":
        failed = JobFailed("job_failed", result.describe(), {"run_id": run_id})
        failed.result = result
        raise failed from cause  # the worker's log shows the step's own traceback as the cause
    return result


def _run_steps(
    settings: Settings, engine: Engine, result: JobResult, *, force: bool, progress: Progress | None
) -> tuple[JobResult, BaseException | None]:
    """Export and build features, then train, evaluate and promote unless nothing changed; the result, and the
    exception that failed the run (if one did)."""
    from jobs.refresh import export_and_build
    from models.lakedata import train_from_lake
    from models.pattern_store import refresh_patterns
    from serving.ranker import train_ranker

    step = progress or (lambda _name: None)
    try:
        with _timed(result, "export_features"):
            built = export_and_build(settings, engine=engine)
        step("export and features")
        watermark = int(built["export"]["watermark"])
        result.summary = {"watermark": watermark, "exported": built["export"]["exported"],
                          "features": built["features"]["rows"], "trained": False}  # fmt: skip
        if not force and _unchanged(engine, watermark):
            result.status, result.reason = "skipped", "no new events since the last training"
            if not _suggestions_current(engine, watermark):  # e.g. the first run after suggestions were added
                _refresh(settings, engine, result, watermark, step)
            _outcomes(settings, engine, result, step)  # time passes even without new events: verdicts come due
            return result, None
        with _timed(result, "train_evaluate_promote"):
            trained = train_from_lake(settings, progress=step)
        result.summary["trained"] = True
        result.summary["models"] = [
            {k: r[k] for k in ("name", "engine", "version", "mrr", "champion_before", "champion_mrr", "promoted")}
            for r in trained
        ]
        with _timed(result, "ranker"):  # the suggestion ranker learns from everyone's feedback (serving.ranker)
            result.summary["ranker"] = train_ranker(engine)
        with _timed(result, "patterns"):  # what `floyo patterns` and `floyo models list` read
            result.summary["patterns"] = refresh_patterns(engine, settings)
        _refresh(settings, engine, result, watermark, step)
        _outcomes(settings, engine, result, step)
    except FloyoError as exc:
        if exc.code == "no_events":
            result.status, result.reason = "skipped", "no events in the lake"
            return result, None
        result.status, result.error = "failed", f"{exc.message} [{exc.code}]"
        return result, exc
    except Exception as exc:  # recorded here; run_pipeline raises once the row is written, this as the cause
        log.debug("job run failed", exc_info=True)
        result.status, result.error = (
            "failed",
            f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}",
        )
        return result, exc
    return result, None


def _refresh(settings: Settings, engine: Engine, result: JobResult, watermark: int, step: Progress) -> None:
    """Every user's suggestions from the same lake (ids, states and feedback survive), as the step ``suggestions``."""
    from serving.refresh import lake_events, refresh_suggestions

    with _timed(result, "suggestions"):
        refreshed = refresh_suggestions(engine, lake_events(settings), model_version=f"lake@{watermark}")
    step("suggestions")
    result.summary["suggestions"] = refreshed.as_dict()


def _outcomes(settings: Settings, engine: Engine, result: JobResult, step: Progress) -> None:
    """Measure every adopted workflow from the lake (``models.outcome_store``), as the step ``outcomes``."""
    from models.outcome_store import refresh_outcomes

    with _timed(result, "outcomes"):
        result.summary["outcomes"] = refresh_outcomes(engine, settings)
    step("outcomes")


def _suggestions_current(engine: Engine, watermark: int) -> bool:
    """Whether a refresh already ran on the lake at this watermark (its model version says so)."""
    from sqlalchemy import text

    with engine.connect() as conn:
        found = conn.execute(
            text("SELECT 1 FROM suggestion_state WHERE model_version = :v LIMIT 1"), {"v": f"lake@{watermark}"}
        ).first()
    return found is not None


def _unchanged(engine: Engine, watermark: int) -> bool:
    """Whether the last training saw this very watermark and every family's global champion was made by a run
    over the whole lake. Only the job's own runs (global ones) record a watermark, and a ``floyo train --user``
    or ``--events`` run registers under other names, so neither can make this true."""
    from models import tracking
    from models.train import FAMILIES

    with engine.connect() as conn:
        last = runs.last_trained_watermark(conn)
    return last == watermark and all(tracking.champion_scope(name) == tracking.GLOBAL_SCOPE for name in FAMILIES)


@contextmanager
def _timed(result: JobResult, name: str) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        result.steps[name] = round(time.perf_counter() - started, 3)
