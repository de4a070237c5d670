"""GET /api/v1/models: every version of the global model families, their metrics side by side, the champions."""

from __future__ import annotations

from typing import Any

from fastapi.concurrency import run_in_threadpool
from sqlalchemy import Engine

from ingest.deps import EngineDep, protected_router
from ingest.responses import OrjsonResponse
from serving.champions import RANKER_MODEL

router = protected_router(tags=["models"])
CHAMPION = "champion"
# models.train.FAMILIES (pinned by tests/serving/test_api_models.py): importing models.train here would cost the
# first request ~2 s of imports it never uses
FAMILIES = ("floyo-next-action", "floyo-cochange", "floyo-rules", "floyo-workflows")


def model_families(engine: Engine) -> list[dict[str, Any]]:
    """The global families (never the per-user or per-log registrations: their names are people's and files'),
    each with its champion and every version's metrics in version order, as the last refresh recorded them
    (``model_versions`` holds no per-user data: read as its owner)."""
    from models.pattern_store import read_models

    names = (*FAMILIES, RANKER_MODEL)
    families: dict[str, dict[str, Any]] = {n: {"name": n, "champion": None, "versions": []} for n in names}
    with engine.connect() as conn:
        versions = read_models(conn)
    for v in versions:
        family = families.get(v["name"])
        if family is None:
            continue
        family["versions"].append({k: v[k] for k in ("version", "aliases", "metrics", "refreshed_at")})
        if CHAMPION in v["aliases"]:
            family["champion"] = v["version"]
    return list(families.values())


@router.get("/api/v1/models")
async def get_models(engine: EngineDep) -> OrjsonResponse:
    """``{"families": [{"name", "champion", "versions": [{"version", "aliases", "metrics", "refreshed_at"}]}]}`` for
    the families the pipeline trains (next action, co-change, rules, workflows) and the ranker; metrics as each
    training run logged them (the baselines' beside the model's)."""
    return OrjsonResponse({"families": await run_in_threadpool(model_families, engine)})
