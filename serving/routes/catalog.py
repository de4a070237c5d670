"""GET /api/v1/catalog: the integration catalog the suggestions are made from."""

from __future__ import annotations

from fastapi import Request

from ingest.deps import protected_router
from ingest.responses import OrjsonResponse
from serving.answers_schema import CatalogAnswer, ok

router = protected_router(tags=["catalog"])


@router.get("/api/v1/catalog", responses=ok(CatalogAnswer, "every template of the catalog"))
def catalog(request: Request) -> OrjsonResponse:
    """Every template of the catalog: what pattern it matches, its workflow, its per-run effort and source."""
    loaded = request.app.state.catalog
    return OrjsonResponse({"templates": [entry.model_dump(mode="json") for entry in loaded.entries]})
