"""GET /api/v1/models: the global families' versions and metrics from a real (temporary) MLflow registry."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from floyo.settings import Settings
from tests.serving.api_helpers import register_version
from tests.utils.factories import Device

FAMILIES = ["floyo-next-action", "floyo-cochange", "floyo-rules", "floyo-workflows", "floyo-ranker"]


def test_models_without_a_registry_list_every_family_empty(api: TestClient, device: Device, settings: Settings):
    response = api.get("/api/v1/models", headers=device.headers)
    assert response.status_code == 200, response.text
    assert response.json() == {"families": [{"name": n, "champion": None, "versions": []} for n in FAMILIES]}
    assert not Path(settings.mlflow_tracking_uri.removeprefix("sqlite:///")).exists()  # asking created nothing
    assert api.get("/api/v1/models").status_code == 401


def test_models_show_versions_metrics_and_the_champion_never_scoped_ones(api: TestClient, device: Device):
    from models.tracking import CHAMPION, client

    first = register_version("floyo-rules", {"mrr": 0.2, "baseline_popular_mrr": 0.1})
    second = register_version("floyo-rules", {"mrr": 0.3, "baseline_popular_mrr": 0.1})
    client().set_registered_model_alias("floyo-rules", CHAMPION, second)
    register_version("floyo-rules-user-alice", {"mrr": 0.9})  # a person's own registration: not for everyone to see
    families = {f["name"]: f for f in api.get("/api/v1/models", headers=device.headers).json()["families"]}
    assert list(families) == FAMILIES
    rules = families["floyo-rules"]
    assert rules["champion"] == second
    assert [(v["version"], v["aliases"], v["metrics"]) for v in rules["versions"]] == [
        (first, [], {"baseline_popular_mrr": 0.1, "mrr": 0.2}),
        (second, [CHAMPION], {"baseline_popular_mrr": 0.1, "mrr": 0.3}),
    ]
    assert families["floyo-workflows"]["versions"] == []
