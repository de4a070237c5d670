"""Helpers for lake tests: a scratch database per test (the export is global to a database) and lake readers."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from sqlalchemy import Engine, create_engine, pool, text

from floyo.db import migrate
from floyo.settings import Settings
from ingest.service import ingest_events
from tests.utils.db import scratch_database
from tests.utils.factories import Device, make_device, make_event

REPO = Path(__file__).resolve().parents[2]
FLASK_LOG = next(
    (
        p
        for p in (REPO.parent / "shared/data/flask.events.csv.gz", REPO / "data/samples/flask.events.csv.gz")
        if p.exists()
    ),
    REPO / "data/samples/flask.events.csv.gz",
)


@dataclass
class LakeDB:
    """A migrated scratch database, an engine on it, settings whose lake is in a temporary directory."""

    url: str
    engine: Engine
    settings: Settings
    device: Device

    @property
    def env(self) -> dict[str, str]:
        return {
            "FLOYO_ENV": "test",
            "FLOYO_DATABASE_URL": self.url,
            "FLOYO_DATA_DIR": str(self.settings.data_dir),
            "FLOYO_RETENTION_DAYS": str(self.settings.retention_days),
        }

    def ingest(self, events: list[dict[str, Any]], device: Device | None = None) -> int:
        device = device or self.device
        result = ingest_events(self.engine, self.settings, events, user_id=device.user_id, device_id=device.device_id)
        assert not result.rejected, result.rejected
        return result.accepted

    def db_seqs(self) -> list[int]:
        with self.engine.connect() as conn:
            return sorted(int(s) for s in conn.execute(text("SELECT seq FROM events")).scalars())


@contextmanager
def lake_db(database_url: str, data_dir: Path, *, retention_days: int = 365) -> Iterator[LakeDB]:
    """A fresh database migrated to head, dropped afterwards."""
    with scratch_database(database_url) as url:
        migrate.upgrade(url)
        engine = create_engine(url, poolclass=pool.NullPool)
        settings = Settings(env="test", database_url=url, data_dir=data_dir, retention_days=retention_days)
        try:
            yield LakeDB(url, engine, settings, make_device(engine))
        finally:
            engine.dispose()


@contextmanager
def persona_lake(database_url: str, data_dir: Path) -> Iterator[LakeDB]:
    """Three synthetic personas over 12 days stored through the ingest path, exported and featurised."""
    from features.synth import generate
    from floyo.demo_data import store
    from jobs.refresh import export_and_build

    with lake_db(database_url, data_dir) as db:
        data = generate(personas=3, days=12, seed=0, end=date(2026, 11, 1))
        store(data, db.engine, db.settings, db.settings.data_dir / "truth.json")
        export_and_build(db.settings, engine=db.engine, retention=False)
        yield db


def events_at(
    start: datetime, n: int, *, step: timedelta = timedelta(minutes=7), **fields: Any
) -> list[dict[str, Any]]:
    """``n`` valid events from ``start``, ``step`` apart."""
    return [make_event(ts=(start + i * step).isoformat(), **fields) for i in range(n)]


def days_ago(days: float) -> datetime:
    return datetime.now(UTC) - timedelta(days=days)


def lake_files(lake: Path) -> list[Path]:
    return sorted((lake / "events").glob("date=*/*.parquet"))


def lake_seqs(lake: Path) -> list[int]:
    """Every seq in the lake's committed event files (duplicates kept, to be counted)."""
    seqs: list[int] = []
    for f in lake_files(lake):
        seqs += pq.read_table(f, columns=["seq"]).column("seq").to_pylist()
    return sorted(seqs)
