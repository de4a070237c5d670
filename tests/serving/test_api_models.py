"""GET /api/v1/models: the global families' versions and metrics as the pipeline recorded them."""

from __future__ import annotations

import json
import uuid

from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from tests.serving.api_helpers import record_version
from tests.utils.factories import Device

FAMILIES = ["floyo-next-action", "floyo-cochange", "floyo-rules", "floyo-workflows", "floyo-ranker"]


def test_models_show_versions_metrics_and_the_champion_never_scoped_ones(
    api: TestClient, device: Device, engine: Engine
):
    with engine.begin() as conn:  # the table is global: start from what no other test left
        conn.execute(text("DELETE FROM model_versions"))
    empty = api.get("/api/v1/models", headers=device.headers)
    assert empty.status_code == 200, empty.text
    assert empty.json()["families"] == [{"name": n, "champion": None, "versions": []} for n in FAMILIES]
    record_version(engine, "floyo-rules", "10", {"mrr": 0.3, "baseline_popular_mrr": 0.1}, champion=True)
    record_version(engine, "floyo-rules", "9", {"mrr": 0.2, "baseline_popular_mrr": 0.1})
    record_version(engine, "floyo-rules-user-alice", "1", {"mrr": 0.9})  # a person's own: not for everyone
    families = {f["name"]: f for f in api.get("/api/v1/models", headers=device.headers).json()["families"]}
    assert list(families) == FAMILIES
    rules = families["floyo-rules"]
    assert rules["champion"] == "10"
    assert [(v["version"], v["aliases"], v["metrics"]) for v in rules["versions"]] == [
        ("9", [], {"mrr": 0.2, "baseline_popular_mrr": 0.1}),
        ("10", ["champion"], {"mrr": 0.3, "baseline_popular_mrr": 0.1}),
    ]  # in version order, 9 before 10
    assert families["floyo-workflows"]["versions"] == []
    assert api.get("/api/v1/models").status_code == 401


def test_the_families_listed_are_the_ones_trained():
    from models.train import FAMILIES as TRAINED
    from serving.routes.models import FAMILIES as LISTED

    assert LISTED == TRAINED


def test_models_list_the_jobs_last_training_runs_without_their_errors(api: TestClient, device: Device, engine: Engine):
    models = [{"name": "floyo-rules", "promoted": True}, {"name": "floyo-workflows", "promoted": False}]
    tag = f"t-{uuid.uuid4().hex[:8]}"  # other tests add runs too: these are found by their own trigger names
    with engine.begin() as conn:  # a little in the future: among the last 10 whatever other tests left
        conn.execute(
            text("INSERT INTO job_runs (job, trigger, status, started_at, duration_s, summary, error) VALUES "
                 "('pipeline', :t || '-a', 'succeeded', now() + interval '2 minute', 61.5, "
                 " jsonb_build_object('models', CAST(:m AS jsonb)), NULL), "
                 "('pipeline', :t || '-b', 'failed', now() + interval '1 minute', 3.0, '{}', 'secret detail')"),
            {"m": json.dumps(models), "t": tag},
        )  # fmt: skip
    runs = api.get("/api/v1/models", headers=device.headers).json()["training_runs"]
    assert [(r["trigger"], r["status"], r["trained"], r["promoted"]) for r in runs if r["trigger"].startswith(tag)] == [
        (f"{tag}-a", "succeeded", ["floyo-rules", "floyo-workflows"], ["floyo-rules"]),
        (f"{tag}-b", "failed", [], []),
    ]
    assert "secret detail" not in json.dumps(runs)  # errors are for admins (GET /api/v1/operations)
