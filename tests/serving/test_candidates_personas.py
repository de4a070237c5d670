"""End to end on the synthetic personas: stored through the ingest path -> `floyo job run` -> every planted workflow
of every persona is among that persona's top 5 suggestions with the right template, folder globs and evidence."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from features.synth import generate
from floyo.cli import app
from floyo.demo_data import store
from floyo.workflow_definition import validate_definition
from serving.recovery import EXPECTED
from tests.features.helpers import LakeDB
from tests.jobs.helpers import job_env, job_rows


@pytest.fixture
def jdb(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LakeDB]:
    with job_env(database_url, tmp_path, monkeypatch, personas=0) as db:
        yield db


def _top(db: LakeDB, n: int = 5) -> dict[str, list[dict[str, Any]]]:
    with db.engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT u.name, s.* FROM suggestions s JOIN users u ON u.id = s.user_id WHERE s.active"
            " ORDER BY u.name, s.score DESC, s.id"
        ))  # fmt: skip
        out: dict[str, list[dict[str, Any]]] = {}
        for r in rows:
            out.setdefault(r.name, []).append(dict(r._mapping))
    return {name: found[:n] for name, found in out.items()}


def test_every_planted_workflow_is_in_its_personas_top_5(jdb: LakeDB) -> None:
    data = generate(personas=5, days=21, seed=0, end=date(2026, 11, 1))  # one of each persona
    store(data, jdb.engine, jdb.settings, jdb.settings.data_dir / "truth.json")
    result = CliRunner().invoke(app, ["job", "run"])
    assert result.exit_code == 0, result.output
    assert "suggestions:" in result.stdout
    run = job_rows(jdb.engine)[-1]
    assert run["status"] == "succeeded"
    assert "suggestions" in run["steps"]
    assert run["summary"]["suggestions"]["users"] >= 5

    top = _top(jdb)
    planted = [(w["name"], user) for w in data.truth["workflows"] for user in w["instances_by_user"]]
    assert len(planted) >= 11
    for name, user in planted:
        template, glob, target = EXPECTED[name]
        hits = [s for s in top.get(user, []) if s["template"] == template
                and s["body"]["pattern"]["steps"][0]["glob"] == glob]  # fmt: skip
        assert hits, (name, user, [(s["template"], s["title"]) for s in top.get(user, [])])
        s = hits[0]
        steps = s["body"]["pattern"]["steps"]
        assert target in (steps[1].get("tool"), steps[1].get("dest")), steps
        evidence = s["body"]["evidence"]
        assert evidence["occurrences"] >= 5
        assert evidence["days"] >= 3
        assert evidence["examples"]
        assert evidence["first_seen"] <= evidence["last_seen"]
        assert s["body"]["savings"]["minutes_per_week"] > 0
        assert validate_definition(s["body"]["workflow"]) == s["body"]["workflow"]
        assert 0 <= s["score"] <= 1
        assert s["model_version"].startswith("lake@")

    with jdb.engine.connect() as conn:
        query = "SELECT u.name, st.activity FROM suggestion_state st JOIN users u ON u.id = st.user_id"
        states: dict[str, Any] = {r.name: r.activity for r in conn.execute(text(query + " WHERE st.version = 1"))}
    assert all(states[u.name]["enough"] for u in data.users)
    assert not states[jdb.device.user]["enough"]  # the fixture's own user sent nothing: told what is needed
    assert "100 more events" in states[jdb.device.user]["message"]

    # `floyo suggestions refresh --user` reads the same lake: the same ids, that user's version alone moves
    writer = next(u.name for u in data.users if u.persona == "writer")
    refreshed = CliRunner().invoke(app, ["suggestions", "refresh", "--user", writer])
    assert refreshed.exit_code == 0, refreshed.output
    assert refreshed.stdout.startswith("refreshed suggestions of 1 user:")
    with jdb.engine.connect() as conn:
        found = conn.execute(
            text("SELECT u.name, st.version FROM suggestion_state st JOIN users u ON u.id = st.user_id")
        )
        versions = {r.name: r.version for r in found}
    assert versions == {**{n: 1 for n in versions}, writer: 2}
    assert [s["id"] for s in _top(jdb)[writer]] == [s["id"] for s in top[writer]]
    unknown = CliRunner().invoke(app, ["suggestions", "refresh", "--user", "nobody-here"])
    assert unknown.exit_code == 1
    assert unknown.stderr.strip() == "error: no user named 'nobody-here' [no_such_user]"
