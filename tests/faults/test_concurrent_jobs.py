"""Two real `floyo job run` processes started together on one database: one runs, the other is recorded as
skipped ("already running"); job_runs and the model registry stay whole."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import text

from features.synth import generate
from floyo.demo_data import store
from floyo.settings import Settings
from mlflow import MlflowClient
from tests.faults.conftest import Cluster


@pytest.mark.slow  # a real training run (one persona) in a process of its own
def test_two_job_processes_at_once_one_runs_one_skips(cluster: Cluster, tmp_path: Path) -> None:
    settings = Settings(env="test", database_url=cluster.url, data_dir=tmp_path / "data")
    store(generate(personas=2, days=8, seed=0, end=date(2026, 11, 1)), cluster.engine, settings, tmp_path / "t.json")
    mlflow_uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    env = {**os.environ, "FLOYO_ENV": "test", "FLOYO_DATABASE_URL": cluster.url, "FLOYO_DATA_DIR": str(tmp_path / "data"),
           "FLOYO_MLFLOW_URI": mlflow_uri, "FLOYO_RETENTION_DAYS": "0"}  # fmt: skip
    command = [sys.executable, "-m", "floyo", "job", "run"]
    procs = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    outputs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err.decode()[-2000:] for _, err in outputs]
    said = sorted(out.decode() for out, _ in outputs)
    assert sum("skipped (already running)" in s for s in said) == 1, said
    assert sum("succeeded" in s for s in said) == 1, said
    with cluster.engine.connect() as conn:
        rows = conn.execute(text("SELECT status, summary->>'reason', finished_at FROM job_runs ORDER BY id")).all()
    assert sorted((r[0], r[1]) for r in rows) == [("skipped", "already running"), ("succeeded", None)]
    assert all(r[2] is not None for r in rows)  # nothing left "running"
    client = MlflowClient(tracking_uri=mlflow_uri, registry_uri=mlflow_uri)
    models = client.search_registered_models()
    assert len(models) == 4
    for model in models:  # one training: each family has exactly one version, the champion
        versions = client.search_model_versions(f"name = '{model.name}'")
        assert [str(v.version) for v in versions] == ["1"], model.name
        assert str(client.get_model_version_by_alias(model.name, "champion").version) == "1"
