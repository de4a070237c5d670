"""Export then build features: what ``floyo demo`` and the background job run after ingest."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import Engine

from floyo.settings import Settings


def export_and_build(settings: Settings, *, engine: Engine | None = None, retention: bool = True) -> dict[str, Any]:
    """Run the incremental lake export, then build every feature table; a summary for printing or logging."""
    from features.build import build_features
    from floyo.db import get_engine
    from ingest.lake_export import export_lake

    exported = export_lake(engine or get_engine(), settings, retention=retention)
    started = time.perf_counter()
    tables = build_features(settings.lake_path)
    seconds = round(time.perf_counter() - started, 3)
    return {
        "lake": str(settings.lake_path),
        "export": exported.as_dict(),
        "features": {"rows": tables, "seconds": seconds},
    }
