"""The pipeline as a Celery task with a beat schedule, for deployments with workers (``FLOYO_BROKER_URL``).

The task calls the same ``run_pipeline`` as ``floyo job run``; its advisory lock keeps two workers (or a
worker and a CLI run) from running it at once. Results go to the broker when it is Redis, else to ``rpc://``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from celery import Celery

from floyo.settings import Settings, get_settings
from jobs.schedule import parse_interval

TASK = "floyo.pipeline"


def create_celery(settings: Settings | None = None) -> Celery:
    """A Celery app on ``FLOYO_BROKER_URL`` with the pipeline task and its beat entry."""
    settings = settings or get_settings()
    if not settings.broker_url:
        raise ValueError("FLOYO_BROKER_URL is not set: run the job in-process with `floyo job schedule`")
    settings.data_dir.mkdir(parents=True, exist_ok=True)  # beat keeps its schedule file there
    backend = settings.broker_url if settings.broker_url.startswith(("redis://", "rediss://")) else "rpc://"
    app = Celery("floyo", broker=settings.broker_url, backend=backend)
    app.conf.update(
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        result_expires=24 * 3600,
        task_acks_late=True,  # a worker that dies mid-run leaves the task to another one (the run is resumable)
        worker_prefetch_multiplier=1,
        broker_connection_retry_on_startup=True,
        beat_schedule={
            "floyo-pipeline": {
                "task": TASK,
                "schedule": timedelta(seconds=parse_interval(settings.job_interval)),
                "kwargs": {"trigger": "beat"},
            }
        },
        beat_schedule_filename=str(settings.data_dir / "celerybeat-schedule"),
    )
    app.task(name=TASK)(pipeline_task)
    return app


def pipeline_task(trigger: str = "celery") -> dict[str, Any]:
    """Run the pipeline once in this worker; the run's record as a dict. A failed run raises ``JobFailed`` (after
    recording it), so the task ends in FAILURE for the broker, the result backend and monitoring."""
    from jobs.pipeline import run_pipeline

    return run_pipeline(get_settings(), trigger=trigger).as_dict()


def worker_argv(*, concurrency: int = 1, loglevel: str = "INFO") -> list[str]:
    """Arguments for a worker that also runs beat (one such worker per deployment): one task at a time in the
    worker's own process (``solo``) by default, child processes (``prefork``) when ``concurrency`` > 1."""
    if concurrency < 1:
        raise ValueError(f"concurrency must be at least 1, not {concurrency}")
    pool = ["--pool=solo"] if concurrency == 1 else ["--pool=prefork", f"--concurrency={concurrency}"]
    return ["worker", "--beat", *pool, f"--loglevel={loglevel}"]
