"""GET /api/v1/models: every version of the global model families, their metrics side by side, the champions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.concurrency import run_in_threadpool

from floyo.errors import Unavailable
from floyo.settings import Settings
from ingest.deps import protected_router
from ingest.responses import OrjsonResponse, error_responses
from serving.champions import RANKER_MODEL

router = protected_router(tags=["models"])


def _store_exists(settings: Settings) -> bool:
    """False for a local SQLite store never created: asking MLflow would create an empty one."""
    uri = settings.mlflow_tracking_uri
    return not uri.startswith("sqlite:///") or Path(uri.removeprefix("sqlite:///")).is_file()


def model_families(settings: Settings) -> list[dict[str, Any]]:
    """The global families (never the per-user or per-log registrations: they name people and files), each with
    its champion version and every version's metrics, oldest first."""
    from models.tracking import CHAMPION, list_models
    from models.train import FAMILIES

    names = (*FAMILIES, RANKER_MODEL)
    families: dict[str, dict[str, Any]] = {n: {"name": n, "champion": None, "versions": []} for n in names}
    if not _store_exists(settings):
        return list(families.values())
    try:
        versions = list_models()
    except Exception as exc:  # a store that cannot answer is a 503 that says so, never a 500
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise Unavailable("mlflow_error", f"the model registry did not answer: {first}") from None
    for v in versions:
        family = families.get(v["name"])
        if family is None:
            continue
        family["versions"].append(
            {"version": v["version"], "aliases": v["aliases"], "metrics": dict(sorted(v["metrics"].items()))}
        )
        if CHAMPION in v["aliases"]:
            family["champion"] = v["version"]
    return list(families.values())


@router.get("/api/v1/models", responses=error_responses({503: "the model registry did not answer"}))
async def get_models(request: Request) -> OrjsonResponse:
    """``{"families": [{"name", "champion", "versions": [{"version", "aliases", "metrics"}]}]}`` for the model
    families the pipeline trains (next action, co-change, rules, workflows) and the ranker; metrics as logged by
    each training run (the baselines' figures beside the model's where the run logs them)."""
    settings: Settings = request.app.state.settings
    return OrjsonResponse({"families": await run_in_threadpool(model_families, settings)})
