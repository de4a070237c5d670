"""GET /api/v1/operations (admins): ingest rate, rejected events, export lag, job runs and failures, readiness."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine, text

from floyo.errors import Forbidden
from ingest.deps import EngineDep, ScopedConn, protected_router
from ingest.metrics import exposition
from ingest.responses import OrjsonResponse, error_responses
from ingest.routes.health import readiness_checks
from serving.answers_schema import OperationsAnswer, ok

router = protected_router(tags=["operations"])
JOB_RUNS_LISTED = 20


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def operations(engine: Engine, now: datetime) -> dict[str, Any]:
    """Figures across all users, read as the tables' owner (they are not per-user, so not under RLS)."""
    with engine.connect() as conn:
        # JIT compiling a plan over every monthly partition costs more than the scans themselves (1.5 s vs 10 ms)
        conn.execute(text("SET LOCAL jit = off"))
        per_hour = conn.execute(
            text(
                "SELECT date_trunc('hour', received_at) AS hour, count(*) FROM events WHERE received_at >= :since "
                "GROUP BY 1 ORDER BY 1"
            ),
            {"since": now - timedelta(hours=24)},
        ).all()
        lag = conn.execute(
            text(
                "SELECT s.watermark, s.updated_at, p.n, p.oldest FROM lake_export_state s CROSS JOIN LATERAL "
                "(SELECT count(*) AS n, min(received_at) AS oldest FROM events WHERE seq > s.watermark) p"
            )
        ).first()
        runs = conn.execute(
            text(
                "SELECT id, job, trigger, status, started_at, finished_at, duration_s, error FROM job_runs "
                "ORDER BY started_at DESC, id DESC LIMIT :n"
            ),
            {"n": JOB_RUNS_LISTED},
        ).all()
        failures = conn.execute(
            text("SELECT count(*) FROM job_runs WHERE status = 'failed' AND started_at >= :since"),
            {"since": now - timedelta(days=7)},
        ).scalar_one()
    pending, oldest = (int(lag[2]), lag[3]) if lag else (0, None)
    return {
        "now": now.isoformat(),
        "ingest": {
            "last_hour": sum(int(n) for hour, n in per_hour if hour >= now - timedelta(hours=1)),
            "last_24h": sum(int(n) for _, n in per_hour),
            "per_hour": [{"hour": hour.isoformat(), "events": int(n)} for hour, n in per_hour],
        },
        # the server's counters since it started (rejected events are answered, never stored)
        "events_by_outcome": outcomes(),
        "rejected_by_field": rejected_by_field(),
        "export": {
            "watermark": None if lag is None else int(lag[0]),
            "last_export": None if lag is None else _iso(lag[1]),
            "pending_events": pending,
            "lag_s": None if oldest is None else round((now - oldest).total_seconds(), 1),
        },
        "job_runs": [
            {
                "id": r.id,
                "job": r.job,
                "trigger": r.trigger,
                "status": r.status,
                "started_at": _iso(r.started_at),
                "finished_at": _iso(r.finished_at),
                "duration_s": r.duration_s,
                "error": r.error,
            }
            for r in runs
        ],
        "failures_7d": int(failures),
    }


def outcomes() -> dict[str, int]:
    """Telemetry events by outcome since the server started, summed over its workers (as ``/metrics`` shows)."""
    counts = {"accepted": 0, "duplicate": 0, "rejected": 0}
    for family in text_string_to_metric_families(exposition().decode()):
        if family.name == "floyo_events":
            for sample in family.samples:
                if sample.name == "floyo_events_total" and sample.labels.get("outcome") in counts:
                    counts[sample.labels["outcome"]] += int(sample.value)
    return counts


def rejected_by_field() -> dict[str, int]:
    """Rejected telemetry events by the field at fault (``path``, ``ts``, ``kind``…) since the server started,
    summed over its workers, most frequent first."""
    counts: dict[str, int] = {}
    for family in text_string_to_metric_families(exposition().decode()):
        if family.name == "floyo_rejected_events":
            for sample in family.samples:
                if sample.name == "floyo_rejected_events_total":
                    field = sample.labels.get("field", "other")
                    counts[field] = counts.get(field, 0) + int(sample.value)
    return dict(sorted(counts.items(), key=lambda kv: -kv[1]))


@router.get(
    "/api/v1/operations",
    responses={
        **ok(OperationsAnswer, "the operations figures"),
        **error_responses({403: "the caller is not an admin"}),
    },
)
async def get_operations(scope: ScopedConn, engine: EngineDep, request: Request) -> OrjsonResponse:
    """Admins only: events received per hour over 24 h, this process's accepted/duplicate/rejected counters, the
    lake export's lag (events not yet exported and the oldest one's age), the last job runs, failures in 7 days,
    and readiness."""
    if not scope.principal.is_admin:
        raise Forbidden("admins_only", "operations figures are for admins")
    body = await run_in_threadpool(operations, engine, datetime.now(UTC))
    checks = await run_in_threadpool(readiness_checks, engine)
    body["readiness"] = {"ready": all(v == "ok" for v in checks.values()), "checks": checks}
    extra = getattr(request.app.state, "readiness_extra", None)
    if extra is not None:
        body["readiness"].update(extra())
    return OrjsonResponse(body)
