"""MLflow in a temporary store: runs logged whole, champion promoted only when better, load-back identical."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import mlflow
from floyo.cli import app
from models import tracking
from models.eventlog import read_event_log
from models.next_action import NextActionModel, next_action_to_json
from models.next_action_ranker import NextActionRanker, candidates, fit_classifier, model_to_json
from models.protocol import hit_metrics, next_item_steps, time_split
from models.pyfunc import NextActionPyfunc, next_action_input
from models.train import FAMILIES, _log_and_promote, train_from_log
from tests.models.helpers import flask_log


@pytest.fixture
def small_log(tmp_path: Path) -> Path:
    """The first 2,500 events of the flask log, same format."""
    with gzip.open(flask_log(), "rt") as src:
        lines = [next(src) for _ in range(2501)]
    path = tmp_path / "small.events.csv.gz"
    with gzip.open(path, "wt") as dst:
        dst.writelines(lines)
    return path


@pytest.fixture
def store(env: dict[str, str]) -> Iterator[str]:
    """The per-test MLflow store of the ``env`` fixture; afterwards no run may be left open."""
    from floyo.settings import get_settings

    get_settings.cache_clear()
    yield env["FLOYO_MLFLOW_URI"]
    assert mlflow.active_run() is None
    get_settings.cache_clear()


def test_train_logs_registers_and_promotes_once(store: str, small_log: Path) -> None:
    first = train_from_log(small_log)  # a log run: registered under the log's own names, never the global ones
    assert [(r["name"], r["version"], r["promoted"], r["scope"]) for r in first] == [
        (f"{family}-log-small.events", "1", True, "log:small.events.csv.gz") for family in FAMILIES
    ]
    second = train_from_log(small_log)  # same data, same model: no better than the champion
    assert [(r["version"], r["promoted"], r["champion_before"]) for r in second] == [("2", False, "1")] * 4
    assert second[0]["champion_mrr"] == pytest.approx(first[0]["mrr"])  # re-scored on the same window
    run = tracking.client().get_run(first[0]["run_id"])
    assert set(run.data.metrics) >= {"hr1", "hr3", "hr5", "mrr", "coverage", "n"}
    assert {"half_life", "weights", "data.train_start", "data.test_end", "data.train_steps"} <= set(run.data.params)
    assert run.data.tags[tracking.SCOPE_TAG] == run.data.params["scope"] == "log:small.events.csv.gz"
    assert all(tracking.champion_version(family) is None for family in FAMILIES)
    model_info = mlflow.models.get_model_info("models:/floyo-next-action-log-small.events/1")
    assert model_info.signature is not None
    assert model_info.saved_input_example_info is not None
    listed = {(m["name"], m["version"]): m["aliases"] for m in tracking.list_models()}
    assert listed[("floyo-next-action-log-small.events", "1")] == ["champion"]
    assert listed[("floyo-cochange-log-small.events", "2")] == []


def test_champion_loaded_back_scores_identically_and_only_a_better_model_is_promoted(
    store: str, small_log: Path
) -> None:
    split = time_split(read_event_log(small_log))
    steps, queries = next_item_steps(split)
    truth = [q.item for q in queries]

    def log(model: NextActionModel) -> dict[str, Any]:
        return _log_and_promote(
            name="floyo-next-action", python_model=NextActionPyfunc(), artifact=next_action_to_json(model),
            params=model.config(), data={"source": "test"}, ranked=[model.rank(q) for q in queries], truth=truth,
            model_input=next_action_input(queries), metrics=hit_metrics,
        )  # fmt: skip

    weak = NextActionModel(weights={"pop": 1.0}, half_life=None).fit(steps)
    strong = NextActionModel(weights={"global": 1.0, "dir": 1.0, "pop": 0.01}, half_life=None).fit(steps)
    assert log(strong)["promoted"]
    assert not log(weak)["promoted"]
    champion = tracking.load("floyo-next-action")
    predicted = [list(r) for r in champion.predict(next_action_input(queries))["ranked"]]
    assert predicted == [strong.rank(q) for q in queries]
    assert tracking.champion_version("floyo-next-action") == "1"


def test_a_ranker_champion_loaded_back_scores_identically(store: str, small_log: Path) -> None:
    split = time_split(read_event_log(small_log))
    steps, queries = next_item_steps(split)
    early, later = [s for s in steps if s.when < split.n_train // 2], [s for s in steps if s.when >= split.n_train // 2]
    markov = NextActionModel(weights={"global": 1.0, "dir": 1.0, "pop": 0.01}, half_life=None)
    classifier = fit_classifier([(candidates(markov.fit(early, every_family=True), later), later)])
    ranker = NextActionRanker(NextActionModel(**markov.config()).fit(steps, every_family=True), classifier)
    ranked = ranker.rank_many(queries)
    logged = _log_and_promote(
        name="floyo-next-action", python_model=NextActionPyfunc(), artifact=model_to_json(ranker),
        params=ranker.config(), data={"source": "test"}, ranked=ranked, truth=[q.item for q in queries],
        model_input=next_action_input(queries), metrics=hit_metrics,
    )  # fmt: skip
    assert logged["promoted"]
    champion = tracking.load("floyo-next-action")
    predicted = [list(r) for r in champion.predict(next_action_input(queries))["ranked"]]
    assert predicted == ranked
    assert ranked != markov.rank_many(queries)  # the classifier did re-order something


def test_cli_train_and_models_list(store: str, small_log: Path) -> None:
    runner = CliRunner()
    trained = runner.invoke(app, ["train", "--events", str(small_log)])
    assert trained.exit_code == 0, trained.output
    assert "floyo-next-action-log-small.events v1" in trained.stdout
    assert "promoted to champion" in trained.stdout
    assert "the global champions stay" in trained.stderr
    listed = runner.invoke(app, ["models", "list"])
    assert listed.exit_code == 0, listed.output
    assert [line.split()[:3] for line in listed.stdout.splitlines()] == [
        ["floyo-cochange-log-small.events", "v1", "champion"], ["floyo-next-action-log-small.events", "v1", "champion"],
        ["floyo-rules-log-small.events", "v1", "champion"], ["floyo-workflows-log-small.events", "v1", "champion"],
    ]  # fmt: skip


def test_no_champion_only_when_the_model_or_its_alias_does_not_exist(store: str) -> None:
    assert tracking.champion_version("floyo-nothing-here") is None
    tracking.client().create_registered_model("floyo-no-alias-yet")
    assert tracking.champion_version("floyo-no-alias-yet") is None


def test_a_store_error_fails_the_run_without_promoting(
    store: str, small_log: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import TEMPORARILY_UNAVAILABLE
    from mlflow.tracking import MlflowClient

    runner = CliRunner()
    assert runner.invoke(app, ["train", "--events", str(small_log)]).exit_code == 0
    name = "floyo-next-action-log-small.events"
    assert tracking.champion_version(name) == "1"

    def unavailable(*args: Any, **kwargs: Any) -> Any:  # what a store that cannot answer raises
        raise MlflowException("database is locked", error_code=TEMPORARILY_UNAVAILABLE)

    with monkeypatch.context() as patched:
        for method in ("get_registered_model", "get_model_version_by_alias"):
            patched.setattr(MlflowClient, method, unavailable)
        failed = runner.invoke(app, ["train", "--events", str(small_log), "--test-frac", "0.3"])
        assert failed.exit_code == 1
        assert failed.stderr.strip().splitlines() == [
            f"error: MLflow store error while reading the champion of {name}: database is locked [mlflow_error]"
        ]
    assert tracking.champion_version(name) == "1"  # not moved, and nothing logged behind the failure
    assert [m["version"] for m in tracking.list_models() if m["name"] == name] == ["1"]


def test_default_store_lives_under_the_data_dir(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    from floyo.settings import get_settings

    monkeypatch.delenv("FLOYO_MLFLOW_URI")
    get_settings.cache_clear()
    try:
        data_dir = Path(env["FLOYO_DATA_DIR"])
        assert get_settings().mlflow_tracking_uri == f"sqlite:///{data_dir.resolve() / 'mlflow' / 'mlflow.db'}"
        tracking.experiment_id("floyo-where")
        assert (data_dir / "mlflow" / "mlflow.db").is_file()
        experiment = tracking.client().get_experiment_by_name("floyo-where")
        assert experiment is not None
        assert experiment.artifact_location == (data_dir.resolve() / "mlflow" / "artifacts").as_uri()
    finally:
        get_settings.cache_clear()


def test_a_logged_model_names_floyo_at_its_version(store: str, small_log: Path) -> None:
    from importlib.metadata import version

    logged = train_from_log(small_log)[2]
    requirements = mlflow.pyfunc.get_model_dependencies(f"models:/{logged['name']}/1")
    assert f"floyo=={version('floyo')}" in Path(requirements).read_text().splitlines()
