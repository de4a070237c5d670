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
from models.train import _log_and_promote, train_from_log
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
    first = train_from_log(small_log)
    assert [(r["name"], r["version"], r["promoted"]) for r in first] == [
        ("floyo-next-action", "1", True), ("floyo-cochange", "1", True), ("floyo-rules", "1", True),
        ("floyo-workflows", "1", True),
    ]  # fmt: skip
    second = train_from_log(small_log)  # same data, same model: no better than the champion
    assert [(r["version"], r["promoted"], r["champion_before"]) for r in second] == [("2", False, "1")] * 4
    assert second[0]["champion_mrr"] == pytest.approx(first[0]["mrr"])  # re-scored on the same window
    run = tracking.client().get_run(first[0]["run_id"])
    assert set(run.data.metrics) >= {"hr1", "hr3", "hr5", "mrr", "coverage", "n"}
    assert {"half_life", "weights", "data.train_start", "data.test_end", "data.train_steps"} <= set(run.data.params)
    model_info = mlflow.models.get_model_info("models:/floyo-next-action/1")
    assert model_info.signature is not None
    assert model_info.saved_input_example_info is not None
    listed = {(m["name"], m["version"]): m["aliases"] for m in tracking.list_models()}
    assert listed[("floyo-next-action", "1")] == ["champion"]
    assert listed[("floyo-cochange", "2")] == []


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
    assert "floyo-next-action v1" in trained.output
    assert "promoted to champion" in trained.output
    listed = runner.invoke(app, ["models", "list"])
    assert listed.exit_code == 0, listed.output
    assert [line.split()[:3] for line in listed.stdout.splitlines()] == [
        ["floyo-cochange", "v1", "champion"], ["floyo-next-action", "v1", "champion"],
        ["floyo-rules", "v1", "champion"], ["floyo-workflows", "v1", "champion"],
    ]  # fmt: skip
