"""The Spark engine (`floyo train --engine spark`, Spark ``local[2]``) against the local engine on the same lake:
the same itemsets with the same support, the same rules and workflows, the same registered models. CI installs
``floyo[spark]`` and Java (``make setup``, ``make system-packages``): nothing here is skipped.

The lake is three synthetic personas over 12 days, stored through the ingest path, exported and featurised
once; one SparkSession serves the whole module (starting the JVM is most of a Spark test's time).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import mlflow
from floyo.cli import app
from floyo.settings import get_settings
from models import tracking
from models.findings import RulesModel, WorkflowsModel
from models.lakedata import training_data
from models.protocol import time_split
from models.rules import RuleLimits, encode
from models.train import _before, _test_start
from models.workflows import WorkflowLimits
from tests.features.helpers import LakeDB, persona_lake
from tests.models.helpers import REPO
from tests.utils.env import environment

pytestmark = pytest.mark.slow  # the JVM's start, Spark's first jobs and a training: about a minute on 2 cores

# 12 days give each persona ~18 sessions: a lower bar for personal rules makes the per-user path mine something
ENV = {"FLOYO_RULES_USER_MIN_TRANSACTIONS": "10", "FLOYO_LOG_LEVEL": "WARNING"}


@pytest.fixture(scope="module")
def synth_lake(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LakeDB]:
    """Three personas over 12 days stored through the ingest path, exported and featurised once."""
    with persona_lake(database_url, tmp_path_factory.mktemp("lake") / "data") as db:
        yield db


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    from models.spark.session import build_session

    session = build_session("local[2]")
    yield session
    session.stop()


@pytest.fixture
def lake_env(synth_lake: LakeDB, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LakeDB]:
    env = {**synth_lake.env, **ENV, "FLOYO_RETENTION_DAYS": "0", "FLOYO_MLFLOW_URI": f"sqlite:///{tmp_path / 'm.db'}"}
    with environment(env, monkeypatch):
        yield synth_lake
    assert mlflow.active_run() is None


def test_spark_and_local_engines_register_the_same_rules_and_workflows(lake_env: LakeDB, spark: Any) -> None:
    result = CliRunner().invoke(app, ["train", "--engine", "spark", "--master", "local[2]"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert [line.rsplit(" ", 2)[-2:] for line in lines] == [
        ["[engine", "local]"], ["[engine", "local]"], ["[engine", "spark]"], ["[engine", "spark]"],
    ]  # fmt: skip
    assert all("v1:" in line and "promoted to champion" in line for line in lines)
    registered = {}
    for name in ("floyo-rules", "floyo-workflows"):
        run_id = str(tracking.client().get_model_version(name, "1").run_id)
        assert tracking.client().get_run(run_id).data.params["data.engine"] == "spark"
        registered[name] = _artifact(run_id)

    # the local engine on the same train window (what `floyo train` without --engine mines)
    local = training_data(get_settings())
    cut = _test_start(local.events, time_split(local.events))
    train_tx, _ = _before(local.transactions, cut)
    train_actions, _ = _before(local.actions, cut)
    rules = RulesModel.mine(train_tx, limits=RuleLimits.from_settings()).to_json()
    workflows = WorkflowsModel.mine(train_actions, limits=WorkflowLimits()).to_json()
    # every rule with its measures, count and evidence, the personal rules, the caps' stats; every workflow
    assert registered["floyo-rules"] == json.loads(json.dumps(rules))
    assert registered["floyo-workflows"] == json.loads(json.dumps(workflows))
    assert rules["rules"]
    assert rules["per_user"]  # the personal path (a grouped map on the executors) mined too
    assert {w["n_steps"] for w in workflows["workflows"]} >= {2, 3}  # pairs and chains
    _same_itemsets(spark, train_tx, cut)


def _same_itemsets(spark: Any, train: Any, cut: Any) -> None:
    """MLlib FPGrowth's itemsets are the local FP-growth's, support for support, on the train window."""
    from models.fpgrowth import frequent_itemsets as local_itemsets
    from models.spark import data as spark_data
    from models.spark.rules import frequent_itemsets

    limits = RuleLimits.from_settings()
    n = train["transaction_id"].n_unique()
    enc = encode(train.select("transaction_id", "item"), min_count=limits.threshold(n), max_items=limits.max_items)
    mined = local_itemsets(
        enc.indptr, enc.indices, len(enc.items), min_count=limits.threshold(n), max_len=limits.max_len
    )
    expected = {frozenset(enc.items[i] for i in s): c for s, c in zip(mined.itemsets, mined.counts, strict=True)}
    assert len(expected) > 100
    assert any(len(s) == limits.max_len for s in expected)
    rows = spark_data.before(spark_data.transactions(spark, str(get_settings().lake_path)), cut).distinct()
    itemsets, counts, _ = frequent_itemsets(rows, n, limits)
    assert dict(zip(itemsets, counts, strict=True)) == expected


def _artifact(run_id: str) -> Any:
    folder = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="model/artifacts")
    return json.loads(next(Path(folder).rglob("*.json")).read_text())


def test_spark_engine_without_pyspark_says_how_to_install_it_in_one_line(tmp_path: Path) -> None:
    hide = "import sys; sys.modules['pyspark'] = None; from floyo.cli import app; app()"
    env = {**os.environ, "FLOYO_DATA_DIR": str(tmp_path), "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", hide, "train", "--engine", "spark"], env=env, capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.strip().count("\n") == 0, done.stderr
    assert "pip install 'floyo[spark]'" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_job_trains_with_the_engine_of_its_settings(lake_env: LakeDB, tmp_path: Path) -> None:
    """``FLOYO_TRAIN_ENGINE=spark`` reaches the job's train step: without PySpark, the run fails saying so."""
    hide = "import sys; sys.modules['pyspark'] = None; from floyo.cli import app; app()"
    env = {**os.environ, **lake_env.env, **ENV, "FLOYO_TRAIN_ENGINE": "spark", "PYTHONPATH": str(REPO),
           "FLOYO_MLFLOW_URI": f"sqlite:///{tmp_path / 'm.db'}"}  # fmt: skip
    done = subprocess.run([sys.executable, "-c", hide, "job", "run", "--force"], env=env, capture_output=True,
                          text=True, timeout=300)  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    assert "[spark_unavailable]" in done.stderr  # the train step asked for Spark
    assert "pip install 'floyo[spark]'" in done.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--engine", "bogus"], "--engine must be local or spark, not 'bogus'"),
        (["--master", "local[2]"], "--master is for --engine spark"),
        (["--engine", "spark", "--events", "x.csv"], "--engine spark reads the lake: leave out --events"),
    ],
)
def test_bad_engine_options_are_refused_in_one_line(args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["train", *args])
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())
