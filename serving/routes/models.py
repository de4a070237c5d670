"""GET /api/v1/models: every version of the global model families, their metrics side by side, the champions."""

from __future__ import annotations

from typing import Any

from fastapi.concurrency import run_in_threadpool
from sqlalchemy import Engine

from ingest.deps import EngineDep, protected_router
from ingest.responses import OrjsonResponse
from serving.answers_schema import ModelsAnswer, ok
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


def training_runs(engine: Engine, limit: int = 10) -> list[dict[str, Any]]:
    """The pipeline job's last runs: when, how long, and which families it trained and promoted (no error text:
    that is for admins, on the operations figures)."""
    from sqlalchemy import text

    query = text(
        "SELECT id, trigger, status, started_at, duration_s, summary->'models' AS models FROM job_runs "
        "WHERE job = 'pipeline' ORDER BY started_at DESC LIMIT :n"
    )
    with engine.connect() as conn:
        rows = conn.execute(query, {"n": limit}).mappings().all()
    return [
        {
            "id": r["id"], "trigger": r["trigger"], "status": r["status"],
            "started_at": r["started_at"].isoformat(), "duration_s": r["duration_s"],
            "trained": [m.get("name") for m in r["models"] or []],
            "promoted": [m.get("name") for m in r["models"] or [] if m.get("promoted")],
        }
        for r in rows
    ]  # fmt: skip


def _models_answer(engine: Engine) -> dict[str, Any]:
    return {"families": model_families(engine), "training_runs": training_runs(engine)}


@router.get("/api/v1/models", responses=ok(ModelsAnswer, "the model families and the last training runs"))
async def get_models(engine: EngineDep) -> OrjsonResponse:
    """``{"families": [{"name", "champion", "versions": [{"version", "aliases", "metrics", "refreshed_at"}]}]}`` for
    the families the pipeline trains (next action, co-change, rules, workflows) and the ranker; metrics as each
    training run logged them (the baselines' beside the model's); ``training_runs``: the job's last 10 runs with the
    families each trained and promoted."""
    return OrjsonResponse(await run_in_threadpool(_models_answer, engine))
