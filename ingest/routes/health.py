"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel, ConfigDict
from sqlalchemy import Engine, text

from floyo.db.migrate import current_revision, head_revision
from ingest.deps import EngineDep
from ingest.metrics import exposition
from ingest.responses import OrjsonResponse

router = APIRouter(tags=["operations"])


class Liveness(BaseModel):
    """The process answers."""

    status: Literal["ok"]


class Readiness(BaseModel):
    """Whether the API can serve, and each check's state ("ok" or what is wrong); an app composed on top adds
    its own fields (serving: the model versions it serves)."""

    model_config = ConfigDict(extra="allow")

    status: Literal["ready", "not ready"]
    checks: dict[str, str]


@router.get("/health", response_model=Liveness)
async def health() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok"}


def readiness_checks(engine: Engine) -> dict[str, str]:
    """Each check's state: the database answers and its schema is at the code's migration head."""
    checks: dict[str, str] = {}
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            checks["database"] = "ok"
            current, head = current_revision(conn), head_revision()
            checks["migrations"] = "ok" if current == head else f"at {current}, head is {head}"
    except Exception as exc:  # any failure to reach the database means "not ready", never a 500
        checks["database"] = f"unreachable: {type(exc).__name__}"
    return checks


@router.get(
    "/health/readiness", response_model=Readiness,
    responses={503: {"model": Readiness, "description": "not ready: the failing check says why"}},
)  # fmt: skip
async def readiness(request: Request, engine: EngineDep) -> OrjsonResponse:
    """Readiness: 200 when the database is reachable and migrated to head, else 503 with the failing check."""
    checks = await run_in_threadpool(readiness_checks, engine)
    ready = all(v == "ok" for v in checks.values()) and "migrations" in checks
    body: dict[str, object] = {"status": "ready" if ready else "not ready", "checks": checks}
    # an app composed on top (serving) adds what it has loaded, e.g. the model versions it serves
    extra = getattr(request.app.state, "readiness_extra", None)
    if extra is not None:
        body.update(extra())
    return OrjsonResponse(body, 200 if ready else 503)


@router.get("/metrics", include_in_schema=False)
async def metrics() -> Response:
    """Prometheus metrics in the text exposition format."""
    return Response(exposition(), media_type=CONTENT_TYPE_LATEST)
