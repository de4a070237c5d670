"""The job's outcomes step end to end: suggestions accepted over HTTP, the agent's approvals and run events sent
through the API with a device token, the lake exported, outcomes measured into ``workflow_outcomes`` and read back
by the API and by the ranker (the same history rows at training and at serving time)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from floyo.db.scoping import scoped_connection
from floyo.settings import get_settings
from floyo.workflow_definition import definition_hash
from ingest.lake_export import export_lake
from models.outcome_store import refresh_outcomes
from serving import store
from serving.ranker import read_feedback
from serving.ranker_features import features
from tests.features.helpers import LakeDB
from tests.jobs.helpers import job_env
from tests.models.outcome_history import agent_run, history
from tests.serving.api_helpers import body, make_suggestion_factory, workflow
from tests.serving.test_api_workflow_runs import send
from tests.utils.cli import invoke
from tests.utils.factories import Device, make_device


@pytest.fixture
def jdb(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LakeDB]:
    with job_env(database_url, tmp_path, monkeypatch, personas=0) as db:
        yield db


def _accept(api: TestClient, person: Device, sid: str) -> dict[str, Any]:
    answer = api.post(f"/api/v1/suggestions/{sid}/feedback", headers=person.headers, json={"action": "accept"})
    assert answer.status_code == 200, answer.text
    wf = answer.json()["workflow"]
    approval = {"version": 1, "definition_hash": definition_hash(wf["definition"]), "state": "approved"}
    assert api.put(f"/api/v1/workflows/{wf['id']}/approval", headers=person.headers, json=approval).status_code == 200
    return dict(wf)


def test_outcomes_are_measured_from_the_lake_and_shown_and_ranked(jdb: LakeDB):
    from serving.app import create_app

    person = make_device(jdb.engine)
    suggest = make_suggestion_factory(jdb.engine)
    latexmk = suggest(person.user_id)  # save thesis/*.tex, run latexmk by hand within a minute: 30 s each time
    pandoc = suggest(person.user_id, template="convert_on_change", body=body(
        12, workflow=workflow(name="Convert blog/*.md with pandoc on save"),
        pattern={"steps": [{"action": "modify", "glob": "blog/*.md", "root": "documents"},
                           {"action": "run", "tool": "pandoc", "window_s": 60}]},
    ))  # fmt: skip
    now = datetime.now(UTC)
    adopted = now.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=21)  # whole weeks, not today
    with TestClient(create_app(get_settings()), raise_server_exceptions=False) as api:
        saving, unused = _accept(api, person, latexmk), _accept(api, person, pandoc)
        # three weeks of saves and latexmk by hand, then the agent's runs and only a few by hand; pandoc's workflow
        # ran once at adoption and never again
        send(api, person, [*history(saving["id"], adopted), agent_run(unused["id"], adopted + timedelta(hours=1))])
        export_lake(jdb.engine, jdb.settings)
        summary = refresh_outcomes(jdb.engine, jdb.settings)
        assert summary["verdicts"] == {"saving": 1, "unused": 1}
        shown = {w["id"]: w for w in api.get("/api/v1/workflows", headers=person.headers).json()["workflows"]}
        runs = api.get(f"/api/v1/workflows/{saving['id']}/runs?limit=1000", headers=person.headers).json()["runs"]
    good, idle = shown[saving["id"]]["outcome"], shown[unused["id"]]["outcome"]
    assert good["verdict"] == "saving"
    assert good["ok_runs"] == len(runs) == 60
    assert good["manual_before"]["count"] == 60
    assert good["manual_before"]["low"] > good["manual_after"]["high"]
    assert 0 < good["minutes_per_week_low"] < good["minutes_per_week"] < good["minutes_per_week_high"]
    assert good["message"].startswith(f"saving {good['minutes_per_week']:.1f} min/week")
    adopted_at = datetime.fromisoformat(shown[saving["id"]]["adopted_at"])
    assert adopted_at == datetime.fromisoformat(good["adopted_at"])  # the first run (the approval came later)
    assert adopted - timedelta(days=3) < adopted_at < adopted + timedelta(days=3)
    assert (idle["verdict"], idle["ok_runs"]) == ("unused", 1)
    assert idle["message"] == "unused: no successful run in the last 14 days; it could go"
    shown_cli = invoke("workflows", "show", str(saving["id"]), "--user", person.user)
    assert shown_cli.exit_code == 0, shown_cli.output
    assert f"approved on {person.device} (v1, " in shown_cli.stdout
    assert shown_cli.stdout.endswith(f"outcome: {good['message']}\n")

    # the next run keeps the date each verdict was first known (the ranker counts it from then on)
    with jdb.engine.connect() as conn:
        first = {r[0]: r[1] for r in conn.execute(text("SELECT workflow_id, verdict_at FROM workflow_outcomes"))}
    refresh_outcomes(jdb.engine, jdb.settings, now=now + timedelta(hours=1))
    with jdb.engine.connect() as conn:
        again = {r[0]: r[1] for r in conn.execute(text("SELECT workflow_id, verdict_at FROM workflow_outcomes"))}
    assert again == first

    # the ranker's history: the same outcome rows as the request role reads them and as training reads them
    with scoped_connection(jdb.engine, person.user_id) as scoped:
        serving_rows = store.outcome_history(scoped.conn, person.user_id)
    training_rows = [r for r in read_feedback(jdb.engine) if r["user_id"] == person.user_id]
    key = lambda r: (r["suggestion_id"], r["action"], r.get("verdict"), r["created_at"])  # noqa: E731
    assert sorted(map(key, serving_rows)) == sorted(key(r) for r in training_rows if r["action"] == "outcome")
    assert {(r["suggestion_id"], r["verdict"]) for r in serving_rows} == {(latexmk, "saving"), (pandoc, "unused")}
    # what the person did with run_on_save and convert_on_change shows in the next suggestions of those templates
    later = now + timedelta(days=1)
    on_save = features({"template": "run_on_save", "id": "s_new"}, training_rows, later)
    converting = features({"template": "convert_on_change", "id": "s_new2"}, training_rows, later)
    assert on_save["tpl_outcome_used"] > converting["tpl_outcome_used"]
