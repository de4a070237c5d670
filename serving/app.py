"""The Floyo API as ``floyo serve`` runs it: ingest's routes and serving's, one set of errors and middleware.

The models are loaded once at start-up and kept current by a background poll of the registry (``Champions``);
per-user answers are cached (``serving.cache``); the catalog is loaded and validated at start-up, so a broken
one stops the server before it answers anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from floyo.settings import Settings, get_settings
from ingest import app as ingest_app
from serving.cache import make_cache
from serving.catalog import load_catalog
from serving.champions import Champions
from serving.routes import (
    activity,
    catalog,
    me,
    models,
    operations,
    patterns,
    suggestions,
    workflow_runs,
    workflows,
)

log = logging.getLogger(__name__)

ROUTERS = (
    me.router,
    suggestions.router,
    workflows.router,
    workflow_runs.router,
    catalog.router,
    activity.router,
    operations.router,
    models.router,
    patterns.router,
)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Ingest's (the engine), then the catalog, the cache and the champions with their poll."""
    settings: Settings = app.state.settings
    async with ingest_app.lifespan(app):
        app.state.catalog = load_catalog()
        app.state.cache = make_cache(settings)
        champions = Champions(settings)
        await asyncio.to_thread(champions.refresh)
        app.state.champions = champions
        app.state.readiness_extra = champions.describe
        poll = asyncio.create_task(champions.poll(), name="floyo-champions-poll")
        try:
            yield
        finally:
            poll.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await poll
            app.state.cache.close()


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the whole API: telemetry, events, health, and the suggestions, workflows and catalog routes."""
    app = ingest_app.build_app(
        settings or get_settings(),
        description="Telemetry ingest, event access, suggestions, feedback and workflows for Floyo.",
        routers=(*ingest_app.ROUTERS, *ROUTERS),
        app_lifespan=lifespan,
    )
    workflows.with_workflow_schema(app)
    return app
