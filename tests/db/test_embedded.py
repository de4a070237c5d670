"""The embedded PostgreSQL path: the same code on a server Floyo starts itself from the pip wheel."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import psycopg

from floyo.db import migrate
from floyo.db.embedded import ensure_embedded_database, stop_embedded
from floyo.db.engine import psycopg_conninfo


def test_embedded_server_starts_migrates_reuses_stops_and_starts_again():
    # under /tmp rather than pytest's 0700 tmp dir: as root, pgserver runs the cluster as its own user
    base = Path(tempfile.mkdtemp(prefix="floyo-pg-"))
    base.chmod(0o755)
    pgdata = base / "pg"
    try:
        url = ensure_embedded_database(pgdata, "floyo_embedded")
        migrate.upgrade(url)
        assert migrate.status(url) == (migrate.head_revision(), migrate.head_revision())
        assert ensure_embedded_database(pgdata, "floyo_embedded") == url  # reused, not started twice
        with psycopg.connect(**psycopg_conninfo(url)) as conn:
            version = conn.execute("SHOW server_version_num").fetchone()
            assert version is not None
            assert int(version[0]) >= 160000
            assert conn.execute("SELECT to_regclass('events')").fetchone() == ("events",)
        assert stop_embedded(pgdata) is True
        assert stop_embedded(pgdata) is False
        # started again in the same process (pgserver caches a handle per data dir): the same URL, answering
        assert ensure_embedded_database(pgdata, "floyo_embedded") == url
        with psycopg.connect(**psycopg_conninfo(url)) as conn:
            assert conn.execute("SELECT to_regclass('events')").fetchone() == ("events",)
        assert stop_embedded(pgdata) is True
    finally:
        stop_embedded(pgdata)
        shutil.rmtree(base, ignore_errors=True)
