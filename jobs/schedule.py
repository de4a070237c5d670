"""``FLOYO_JOB_INTERVAL`` parsed strictly, and the in-process schedule loop (one machine, no broker)."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable

from floyo.settings import Settings
from jobs.pipeline import JobFailed, JobResult, run_pipeline

log = logging.getLogger(__name__)
_INTERVAL = re.compile(r"^(\d+)(s|m|h|d)$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_interval(value: str) -> int:
    """Seconds in an interval such as ``30s``, ``30m``, ``2h`` or ``1d`` (a whole number and one unit)."""
    match = _INTERVAL.match(value.strip())
    if not match or int(match.group(1)) == 0:
        raise ValueError(
            f"FLOYO_JOB_INTERVAL must be a positive whole number and a unit s, m, h or d (e.g. 30m), not {value!r}"
        )
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def run_schedule(
    settings: Settings,
    *,
    stop: threading.Event | None = None,
    max_runs: int | None = None,
    on_result: Callable[[JobResult], None] | None = None,
) -> int:
    """Run the pipeline now and then every ``FLOYO_JOB_INTERVAL`` until ``stop`` is set (or ``max_runs``)."""
    interval = parse_interval(settings.job_interval)
    stop = stop or threading.Event()
    done = 0
    while not stop.is_set():
        try:
            result = run_pipeline(settings, trigger="schedule")
        except JobFailed as exc:  # recorded in job_runs; the loop goes on to the next interval
            if exc.result is None:
                raise
            result = exc.result
        done += 1
        log.info("scheduled run", extra={"status": result.status, "next_in_s": interval})
        if on_result:
            on_result(result)
        if max_runs is not None and done >= max_runs:
            break
        stop.wait(interval)  # wakes at once when asked to stop
    return done
