"""`floyo agent workflows | approve | reject | runs` against a real server: JSON shape, proposals from the local
history, one-line errors, the decisions told to the server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from agent.config import load_config
from agent.workflows.store import WorkflowStore
from tests.agent.helpers import write_config
from tests.utils.cli import assert_one_line_failure, invoke
from tests.utils.server import free_port


def create_workflow(url: str, token: str, definition: dict[str, Any]) -> dict[str, Any]:
    answer = httpx.post(f"{url}/api/v1/workflows", json=definition, headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def suggested(root: str = "thesis") -> dict[str, Any]:
    return {
        "name": "PDF on save",
        "triggers": [{"type": "file", "root": root, "paths": ["chapters/*.md"], "events": ["modify"]}],
        "actions": [{"type": "run", "command": ["pandoc"], "cwd": "chapters", "args_from_history": True}],
    }


@pytest.fixture
def setup(env, device, tmp_path, shared_server):
    root = tmp_path / "thesis"
    (root / "chapters").mkdir(parents=True)
    state = tmp_path / "state"
    config = write_config(tmp_path / "agent.toml", server=shared_server, token=device.token,
                          roots={"thesis": str(root)})  # fmt: skip
    opts = ["--config", str(config), "--state-dir", str(state)]
    return shared_server, device.token, root, opts


def as_json(*args: str) -> dict[str, Any]:
    result = invoke("agent", *args, "--json")
    assert result.exit_code == 0, result.output
    return dict(orjson.loads(result.stdout))


def test_workflows_lists_state_trigger_and_exactly_what_would_run(setup):
    url, token, _root, opts = setup
    made = create_workflow(url, token, suggested())
    plain = create_workflow(url, token, suggested() | {"name": "tests", "actions": [
        {"type": "run", "command": ["pytest", "-q", "--maxfail=1"], "cwd": "."}]})  # fmt: skip
    doc = as_json("workflows", *opts)
    assert doc["paused"] is False
    assert doc["synced"] is True
    assert [(w["id"], w["version"], w["state"]) for w in doc["workflows"]] == [
        (made["id"], 1, "pending"), (plain["id"], 1, "pending"),
    ]  # fmt: skip
    first = doc["workflows"][1]
    assert first["actions"][0]["argv"] == ["pytest", "-q", "--maxfail=1"]
    assert first["triggers"][0]["paths"] == ["chapters/*.md"]
    assert len(first["definition_hash"]) == 64
    text = invoke("agent", "workflows", *opts)
    assert text.exit_code == 0
    assert "run `pytest -q --maxfail=1` in thesis/. (time limit 300 s)" in text.stdout
    assert "when: file modify thesis:chapters/*.md (debounce 2000 ms)" in text.stdout


def test_approve_proposes_the_command_line_from_local_history(setup):
    url, token, root, opts = setup
    wid = create_workflow(url, token, suggested())["id"]
    for line in ("pandoc ch1.md -o ch1.pdf", "pandoc ch1.md -o ch1.pdf", "pandoc ch2.md"):
        recorded = invoke("agent", "record-run", "--command", line, "--cwd", str(root / "chapters"), *opts)
        assert recorded.exit_code == 0, recorded.output
    result = invoke("agent", "approve", str(wid), "--yes", *opts)
    assert result.exit_code == 0, result.output
    assert "from your local history of thesis:chapters (never sent): `pandoc ch1.md -o ch1.pdf`" in result.stdout
    assert f"approved: workflow {wid} v1" in result.stdout
    [workflow] = as_json("workflows", *opts)["workflows"]
    assert (workflow["state"], workflow["approved_version"]) == ("approved", 1)
    assert workflow["actions"][0]["argv"] == ["pandoc", "ch1.md", "-o", "ch1.pdf"]
    store = WorkflowStore(load_config(Path(opts[1]), state_dir=Path(opts[3])))
    [approved] = store.runnable()
    assert approved.argv == {0: ["pandoc", "ch1.md", "-o", "ch1.pdf"]}
    # the server never saw the arguments: not in the workflow, not in any event
    headers = {"Authorization": f"Bearer {token}"}
    server_side = httpx.get(f"{url}/api/v1/workflows/{wid}", headers=headers).text
    server_side += httpx.get(f"{url}/api/v1/events", params={"limit": 1000}, headers=headers).text
    assert "ch1.md" not in server_side


def test_approve_asks_and_the_person_can_type_another_command_line(setup):
    url, token, root, opts = setup
    wid = create_workflow(url, token, suggested())["id"]
    invoke("agent", "record-run", "--command", "pandoc a.md", "--cwd", str(root / "chapters"), *opts)
    from floyo.cli import app
    from tests.utils.cli import runner

    edited = runner.invoke(app, ["agent", "approve", str(wid), *opts], input="n\npandoc b.md -o 'b c.pdf'\ny\n")
    assert edited.exit_code == 0, edited.output
    [workflow] = as_json("workflows", *opts)["workflows"]
    assert workflow["actions"][0]["argv"] == ["pandoc", "b.md", "-o", "b c.pdf"]
    refused = runner.invoke(app, ["agent", "approve", str(wid), *opts], input="n\ncat x | sh\n")
    assert_one_line_failure(refused, "not a plain command line")
    declined = runner.invoke(app, ["agent", "approve", str(wid), *opts], input="y\nn\n")
    assert_one_line_failure(declined, "not approved")
    shell = invoke("agent", "approve", str(wid), "--yes", "--command", "bash -c 'rm -rf ~'", *opts)
    assert_one_line_failure(shell, "shell string")


def test_reject_unknown_ids_and_an_unreachable_server(setup, tmp_path):
    url, token, root, opts = setup
    wid = create_workflow(url, token, suggested())["id"]
    assert invoke("agent", "approve", str(wid), "--yes", *opts).exit_code == 0
    rejected = invoke("agent", "reject", str(wid), *opts)
    assert rejected.exit_code == 0, rejected.output
    assert as_json("workflows", *opts)["workflows"][0]["state"] == "rejected"
    assert_one_line_failure(invoke("agent", "approve", "999999", "--yes", *opts), "no workflow 999999")
    assert_one_line_failure(invoke("agent", "reject", "999999", *opts), "no workflow 999999")
    assert_one_line_failure(invoke("agent", "runs", "999999", *opts), "no workflow 999999")
    assert invoke("agent", "runs", str(wid), *opts).stdout.strip() == f"no runs yet of workflow {wid}"
    assert invoke("agent", "approve", "0", *opts).exit_code == 2  # not an id at all: usage error
    offline = write_config(tmp_path / "offline.toml", server=f"http://127.0.0.1:{free_port()}", token=token,
                           roots={"thesis": str(root)})  # fmt: skip
    away = ["--config", str(offline), "--state-dir", opts[3]]
    listed = invoke("agent", "workflows", *away)
    assert listed.exit_code == 0
    assert "warning: cannot reach" in listed.stderr
    assert f"{wid}  v1   rejected" in listed.stdout  # the last synced list
    assert_one_line_failure(invoke("agent", "approve", "424242", "--yes", *away), "could not be asked")
    # a decision taken offline waits in the store, and goes out at the next sync that reaches the server
    approved_offline = invoke("agent", "approve", str(wid), "--yes", *away)
    assert "the agent tells the server when it can reach it" in approved_offline.stdout
    store = WorkflowStore(load_config(offline, state_dir=Path(opts[3])))
    assert [(i, body["state"]) for i, body, _ in store.notices()] == [(wid, "approved")]
    assert invoke("agent", "workflows", *opts).exit_code == 0
    assert store.notices() == []


def test_pause_is_shown_and_stops_workflows(setup):
    url, token, _root, opts = setup
    create_workflow(url, token, suggested())
    assert invoke("agent", "pause", "--state-dir", opts[3]).exit_code == 0
    assert "no workflow runs until `floyo agent resume`" in invoke("agent", "workflows", *opts).stdout
    assert as_json("workflows", *opts)["paused"] is True
    resumed = invoke("agent", "resume", "--state-dir", opts[3])
    assert "approved workflows run again" in resumed.stdout
    assert as_json("workflows", *opts)["paused"] is False


def server_side(url: str, token: str, wid: int) -> dict[str, Any]:
    answer = httpx.get(f"{url}/api/v1/workflows/{wid}", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def test_decisions_are_told_to_the_server_and_an_agent_disable_disables_it_there(setup):
    url, token, _root, opts = setup
    wid = create_workflow(url, token, suggested())["id"]
    assert invoke("agent", "approve", str(wid), "--yes", *opts).exit_code == 0
    [approval] = server_side(url, token, wid)["approvals"]
    assert (approval["state"], approval["version"]) == ("approved", 1)
    assert invoke("agent", "reject", str(wid), *opts).exit_code == 0
    assert [a["state"] for a in server_side(url, token, wid)["approvals"]] == ["rejected"]

    assert invoke("agent", "approve", str(wid), "--yes", *opts).exit_code == 0
    store = WorkflowStore(load_config(Path(opts[1]), state_dir=Path(opts[3])))
    store.disable(wid, "5 runs failed in a row")  # what the engine does after repeated failures
    assert invoke("agent", "workflows", *opts).exit_code == 0  # the next sync tells the server, then reads back
    answer = server_side(url, token, wid)
    assert answer["enabled"] is False
    assert [(a["state"], a.get("reason")) for a in answer["approvals"]] == [("disabled", "5 runs failed in a row")]
    assert store.notices() == []
    local = store.get(wid)
    assert (local.state, local.version) == ("disabled", 2)
    assert store.runnable() == []
