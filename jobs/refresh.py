"""Export then build features: what ``floyo demo`` and the background job run after ingest.

The orchestration lives in ``jobs`` because it spans two parts: ``ingest`` exports PostgreSQL to the lake,
``features`` reads the lake; neither drives the other.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine

from floyo.settings import Settings
from ingest.lake_retention import RetentionPlan

log = logging.getLogger(__name__)


def log_retention(plan: RetentionPlan) -> None:
    """Say in the log, before anything is deleted, what retention is about to delete (a warning when anything)."""
    log.log(
        logging.WARNING if plan.rows or plan.lake_dates else logging.INFO,
        plan.describe(),
        extra={"cutoff": plan.cutoff.isoformat(), "rows": plan.rows, "lake_dates": plan.lake_dates, "days": plan.days},
    )


def export_and_build(
    settings: Settings,
    *,
    engine: Engine | None = None,
    retention: bool = True,
    on_retention: Callable[[RetentionPlan], None] | None = log_retention,
) -> dict[str, Any]:
    """Run the incremental lake export (and retention when configured, announced through ``on_retention`` before
    it deletes), then build every feature table; a summary for printing or logging."""
    from features.build import build_features
    from floyo.db import get_engine
    from ingest.lake_export import export_lake

    exported = export_lake(engine or get_engine(), settings, retention=retention, on_retention=on_retention)
    started = time.perf_counter()
    tables = build_features(settings.lake_path)
    seconds = round(time.perf_counter() - started, 3)
    return {
        "lake": str(settings.lake_path),
        "export": exported.as_dict(),
        "features": {"rows": tables, "seconds": seconds},
    }
