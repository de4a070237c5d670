"""`floyo train` on the lake (synthetic personas stored, exported, featurised) and `floyo patterns` reading the
champions' findings, against a real PostgreSQL and a temporary MLflow store."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

import mlflow
from floyo.cli import app
from floyo.db import reset_engine
from floyo.settings import get_settings
from models import tracking
from models.train import FAMILIES
from tests.features.helpers import LakeDB, persona_lake
from tests.models.helpers import REPO

WRITER = "synth-writer-003"


@pytest.fixture(scope="module")
def synth_lake(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LakeDB]:
    """Three personas over 12 days stored through the ingest path, exported and featurised once."""
    with persona_lake(database_url, tmp_path_factory.mktemp("lake") / "data") as db:
        yield db


@pytest.fixture
def lake_env(synth_lake: LakeDB, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LakeDB]:
    for key, value in synth_lake.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("FLOYO_RETENTION_DAYS", "0")
    monkeypatch.setenv("FLOYO_MLFLOW_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    get_settings.cache_clear()
    reset_engine()
    yield synth_lake
    assert mlflow.active_run() is None
    reset_engine()
    get_settings.cache_clear()


def _train(*args: str) -> list[str]:
    result = CliRunner().invoke(app, ["train", *args])
    assert result.exit_code == 0, result.output
    return result.stdout.splitlines()


def test_train_on_the_lake_registers_four_champions_and_patterns_read_them(lake_env: LakeDB) -> None:
    first = _train()
    assert [line.split(":")[0] for line in first] == [
        "floyo-next-action v1", "floyo-cochange v1", "floyo-rules v1", "floyo-workflows v1",
    ]  # fmt: skip
    assert all(line.endswith("promoted to champion") for line in first)
    second = _train()  # same data: re-scored on the same window, the champion stays
    assert all("(champion before: v1" in line and line.endswith("kept the champion") for line in second)
    for line in second:  # the champion loaded back from the registry scores exactly what it scored when trained
        new, old = re.findall(r"mrr (\d\.\d+)", line)
        assert new == old, line
    run = tracking.client().get_run(str(tracking.client().get_model_version("floyo-rules", "1").run_id))
    assert {"r1", "r5", "r10", "mrr", "coverage", "n"} <= set(run.data.metrics)
    assert run.data.params["data.source"].startswith("lake:")
    scored = {
        name: tracking.client().get_run(str(tracking.client().get_model_version(name, "1").run_id)).data.metrics
        for name in ("floyo-next-action", "floyo-cochange")
    }
    # the baselines are scored on the same held-out queries, beside the model
    na = scored["floyo-next-action"]
    assert {f"baseline_{b}_{k}" for b in ("mostpop", "markov1") for k in ("hr1", "hr3", "hr5", "mrr")} <= set(na)
    assert na["baseline_mostpop_mrr"] < na["baseline_markov1_mrr"] < na["mrr"]
    assert 0 < scored["floyo-cochange"]["baseline_pairwise_mrr"] < 1

    # `floyo train` on the lake wrote what `floyo patterns` reads (PostgreSQL), in words
    found = CliRunner().invoke(app, ["patterns", "workflows", "--user", WRITER, "--json"])
    assert found.exit_code == 0, found.output
    workflows = json.loads(found.stdout)["workflows"]
    assert ("modify:md", "run:pandoc") in {tuple(w["steps"][:2]) for w in workflows}  # the writer's planted workflow
    one = workflows[0]
    assert one["user"] == WRITER  # the lake knows users by id; the findings are shown by name
    assert {"occurrences", "confidence", "lift", "delays_median_s", "days", "last_seen", "windows_s"} <= set(one)

    rules = CliRunner().invoke(app, ["patterns", "rules", "--user", WRITER, "--json"])
    assert rules.exit_code == 0, rules.output
    shown = json.loads(rules.stdout)
    listed = shown["rules"]
    assert listed
    assert all(r["sessions"] >= 1 and r["text"].startswith("When you ") for r in listed)
    assert "@" not in json.dumps(listed)  # no session keys: evidence is times and files
    # 12 days of sessions are too few for personal rules: the writer is told so and shown a few global ones
    assert {r["scope"] for r in listed} == {"global"}
    assert "personal rules need at least 20 sessions" in shown["activity"]["message"]
    text = CliRunner().invoke(app, ["patterns", "workflows", "--user", WRITER])
    assert "You modify a .md file, then run pandoc within" in text.stdout
    assert text.stdout.startswith("You ")


def test_train_for_one_user_since_a_date(lake_env: LakeDB) -> None:
    lines = _train("--user", WRITER, "--since", "2026-10-25")
    assert len(lines) == 4
    name = f"floyo-workflows-user-{WRITER}"
    window = tracking.client().get_run(str(tracking.client().get_model_version(name, "1").run_id))
    assert window.data.tags[tracking.SCOPE_TAG] == f"user:{WRITER}"
    assert window.data.params["data.train_start"] >= "2026-10-25"
    with lake_env.engine.connect() as conn:
        writer_id = conn.execute(text("SELECT id FROM users WHERE name = :n"), {"n": WRITER}).scalar_one()
    assert window.data.params["data.source"].endswith(f" user={writer_id}")


def test_patterns_without_a_champion_and_unknown_user_fail_in_one_line(lake_env: LakeDB) -> None:
    with lake_env.engine.begin() as conn:  # the module's database, as before any training wrote its patterns
        conn.execute(text("DELETE FROM patterns"))
    missing = CliRunner().invoke(app, ["patterns", "rules"])
    assert missing.exit_code == 1
    assert "no rules in PostgreSQL yet: `floyo patterns refresh`" in missing.stderr
    unknown = CliRunner().invoke(app, ["train", "--user", "nobody-at-all"])
    assert unknown.exit_code == 1
    assert "no user named 'nobody-at-all'" in unknown.stderr


def test_scoped_runs_leave_every_global_champion_where_it_was(lake_env: LakeDB) -> None:
    """The issue's acceptance: `floyo train --events data/samples/flask.events.csv.gz` (and `--user U`) after a
    global `floyo train` leaves every global champion where it was."""
    assert all(line.endswith("promoted to champion") for line in _train())
    client = tracking.client()
    _train("--events", str(REPO / "data" / "samples" / "flask.events.csv.gz"))
    _train("--user", WRITER)
    for name in FAMILIES:
        assert tracking.champion_version(name) == "1", name
        assert [str(v.version) for v in client.search_model_versions(f"name = '{name}'")] == ["1"], name
        for scoped, scope in ((f"{name}-log-flask.events", "log:flask.events.csv.gz"),
                              (f"{name}-user-{WRITER}", f"user:{WRITER}")):  # fmt: skip
            assert tracking.champion_version(scoped) == "1", scoped
            assert tracking.champion_scope(scoped) == scope
    assert {tracking.champion_scope(name) for name in FAMILIES} == {"lake"}


def test_a_lake_run_replaces_a_global_champion_that_no_lake_run_made(lake_env: LakeDB) -> None:
    """A champion promoted before runs had scopes (or by a scoped run of old code) does not stand."""
    _train("--user", WRITER)
    client = tracking.client()
    for name in FAMILIES:  # what the old code did: a one-user model made the global champion
        source = client.get_model_version(f"{name}-user-{WRITER}", "1")
        client.create_registered_model(name)
        copied = client.create_model_version(name, str(source.source), run_id=source.run_id)
        client.set_registered_model_alias(name, tracking.CHAMPION, copied.version)
    assert {tracking.champion_scope(name) for name in FAMILIES} == {f"user:{WRITER}"}
    lines = _train()
    assert all(line.endswith("promoted to champion") for line in lines), lines
    assert {tracking.champion_scope(name) for name in FAMILIES} == {"lake"}
