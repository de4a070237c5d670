"""A throwaway PostgreSQL for fault tests: started from the pip wheel in a temporary folder, never the shared server."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine

from floyo.db import migrate
from floyo.db.embedded import ensure_embedded_database, stop_embedded


@dataclass(frozen=True)
class Cluster:
    """An embedded PostgreSQL in ``pgdata``: its URL and an engine on it (as the superuser)."""

    pgdata: Path
    url: str
    engine: Engine

    def stop(self) -> None:
        assert stop_embedded(self.pgdata)

    def start(self) -> None:
        # the same data dir: the same socket folder, so the URL every client holds stays valid
        assert ensure_embedded_database(self.pgdata, "floyo_faults") == self.url


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    """A fresh embedded cluster, migrated to head; stopped and removed afterwards."""
    # under /tmp rather than pytest's 0700 tmp dir: as root, pgserver runs the cluster as its own user
    base = Path(tempfile.mkdtemp(prefix="floyo-fault-pg-"))
    base.chmod(0o755)
    pgdata = base / "pg"
    try:
        url = ensure_embedded_database(pgdata, "floyo_faults")
        migrate.upgrade(url)
        engine = create_engine(url, pool_pre_ping=True)
        yield Cluster(pgdata, url, engine)
        engine.dispose()
    finally:
        stop_embedded(pgdata)
        shutil.rmtree(base, ignore_errors=True)
