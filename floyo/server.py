"""Running the API under uvicorn: migrate first, JSON logs, graceful shutdown."""

from __future__ import annotations

import atexit
import os
import shutil
from pathlib import Path

from floyo.logs import configure_logging
from floyo.settings import get_settings

GRACEFUL_SHUTDOWN_SECONDS = 20


def run_server(*, host: str | None = None, port: int | None = None, workers: int = 1) -> None:
    """Migrate to head, then serve until SIGINT/SIGTERM (in-flight requests are finished first)."""
    import uvicorn

    from floyo.auth import check_listen_address, jwt_key
    from floyo.db import migrate, resolve_database_url

    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    host = host or settings.host
    check_listen_address(settings, host)
    jwt_key(settings)  # the generated secret exists (or is refused) before any worker starts
    # resolve once here so the embedded server is up (and migrated) before workers fork
    migrate.upgrade(resolve_database_url(settings))
    _metrics_across_workers(settings.data_dir)
    uvicorn.run(
        "serving.app:create_app",
        factory=True,
        host=host,
        port=port or settings.port,
        workers=workers,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        server_header=False,
    )


def _metrics_across_workers(data_dir: Path) -> None:
    """Prometheus multiprocess mode: a fresh directory for this server's metric files, named to the workers by
    ``PROMETHEUS_MULTIPROC_DIR`` (read when they import prometheus_client; ``ingest.metrics`` sums them)."""
    directory = data_dir.expanduser() / "metrics" / str(os.getpid())
    shutil.rmtree(directory, ignore_errors=True)  # a reused pid's leftovers would be counted
    directory.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)
    atexit.register(shutil.rmtree, directory, True)
