"""Workflows end to end: a real `floyo serve`, a real agent process, real files and programs. Nothing runs before
the person approves it here, after the server disables it, or once its definition changed; the server enabling it
again runs only what was approved; a SIGKILL mid-run is reported once, as interrupted, after the restart."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import sys
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.agent.helpers import server_events, wait_for, write_config
from tests.utils.cli import invoke

RECORD = "import sys; open('out/ran.txt', 'a').write(sys.argv[1] + '\\n')"


def record_action(tag: str) -> dict[str, Any]:
    return {"type": "run", "command": [sys.executable, "-c", RECORD, f"{tag}:{{trigger.name}}"]}


def on_save(folder: str, tag: str) -> dict[str, Any]:
    return {
        "name": f"record {folder}",
        "triggers": [{"type": "file", "root": "proj", "paths": [f"{folder}/*.txt"], "events": ["create", "modify"],
                      "debounce_ms": 100}],
        "actions": [record_action(tag)],
    }  # fmt: skip


class World:
    """The server, the agent and its folder, and the person's commands."""

    def __init__(self, url: str, token: str, root: Path, config: Path, state: Path, agent: Any) -> None:
        self.url, self.root, self.config, self.state, self.agent = url, root, config, state, agent
        self.http = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
        self.token = token
        self.fired = 0  # runs the agent's engine must have started so far

    def create(self, definition: dict[str, Any]) -> int:
        answer = self.http.post("/api/v1/workflows", json=definition)
        assert answer.status_code == 201, answer.text
        return int(answer.json()["id"])

    def patch(self, wid: int, patch: dict[str, Any]) -> None:
        assert self.http.patch(f"/api/v1/workflows/{wid}", json=patch).status_code == 200

    def approve(self, wid: int) -> None:
        result = invoke("agent", "approve", str(wid), "--yes", "--config", str(self.config), "--state-dir",
                        str(self.state))  # fmt: skip
        assert result.exit_code == 0, result.output

    def runnable(self, count: int) -> None:
        """Wait until the agent's engine has exactly ``count`` workflows loaded (after its next sync)."""
        wait_for(lambda: (self.agent.status().get("workflows") or {}).get("runnable") == count,
                 what=f"{count} runnable workflows", timeout=30)  # fmt: skip

    def ran(self) -> list[str]:
        path = self.root / "out" / "ran.txt"
        return path.read_text().splitlines() if path.exists() else []

    def save(self, name: str, *expected: str) -> list[str]:
        """Save ``in/NAME`` then ``canary/NAME`` (the canary workflow is always approved: something fires every
        time); wait until exactly ``expected`` ran (the engine's count of started runs says nothing else did)."""
        self.fired += len(expected)
        (self.root / "in" / name).write_text(name)
        (self.root / "canary" / name).write_text(name)

        def done() -> list[str] | None:
            mine = sorted(line for line in self.ran() if line.endswith(f":{name}"))
            fired = (self.agent.status().get("workflows") or {}).get("fired")
            return mine if mine == sorted(expected) and fired == self.fired else None

        ran = wait_for(done, what=f"exactly {expected} to run", timeout=30)
        assert ran is not None
        return ran


@pytest.fixture
def world(env, device, tmp_path, agents, shared_server):
    root = tmp_path / "proj"
    for folder in ("in", "canary", "out"):
        (root / folder).mkdir(parents=True)
    state = tmp_path / "state"
    config = write_config(tmp_path / "agent.toml", server=shared_server, token=device.token,
                          roots={"proj": str(root)}, debounce_seconds=0.2, backoff_max_seconds=1.0,
                          workflow_poll_seconds=0.3)  # fmt: skip
    agent = agents(env, state, [], "--config", str(config))
    return World(shared_server, device.token, root, config, state, agent)


def run_events(world: World, wid: int) -> list[dict[str, Any]]:
    events = server_events(world.url, world.token)
    return [e for e in events if e["kind"] == "run" and (e.get("meta") or {}).get("workflow_id") == wid]


@pytest.mark.slow
def test_only_what_the_person_approved_runs_and_only_while_the_server_allows_it(world):
    canary = world.create(on_save("canary", "canary"))
    wid = world.create(on_save("in", "in"))
    never = world.create(on_save("in", "never"))  # never approved here
    world.approve(canary)
    world.runnable(1)
    world.save("a.txt", "canary:a.txt")  # not approved: nothing else ran

    world.approve(wid)
    world.runnable(2)
    world.save("b.txt", "in:b.txt", "canary:b.txt")  # one run per save
    said = "workflows: 2 runnable, 0 running, 3 started since the agent started"
    wait_for(lambda: said in invoke("agent", "status", "--state-dir", str(world.state)).stdout, what=said)
    [event] = wait_for(lambda: run_events(world, wid), what="the run event")
    assert (event["root"], event["path"], event["tool"], event["exit_code"]) == (
        "proj",
        "",
        Path(sys.executable).name,
        0,
    )
    assert event["meta"]["outcome"] == "ok"
    assert event["meta"]["workflow_version"] == 1

    world.patch(wid, {"enabled": False})
    world.patch(never, {"enabled": False})
    world.runnable(1)
    world.save("c.txt", "canary:c.txt")
    world.patch(wid, {"enabled": True})  # the server enables both again: only the approved one runs
    world.patch(never, {"enabled": True})
    world.runnable(2)
    world.save("d.txt", "in:d.txt", "canary:d.txt")

    world.patch(wid, {"actions": [record_action("changed")]})  # what it runs changed: approval needed again
    world.runnable(1)
    world.save("e.txt", "canary:e.txt")
    world.approve(wid)
    world.runnable(2)
    world.save("f.txt", "changed:f.txt", "canary:f.txt")
    versions = wait_for(lambda: v if len(v := sorted(e["meta"]["workflow_version"] for e in run_events(world, wid))) == 3
                        else None, what="the third run's event")  # fmt: skip
    assert versions == [1, 3, 4]  # 2: disabled, 3: enabled again, 4: the changed command
    assert run_events(world, never) == []
    # what the never approved one would have done: the agent's own activity log replayed, nothing run
    replay = invoke("agent", "dry-run", str(never), "--days", "1", "--json", "--config", str(world.config),
                    "--state-dir", str(world.state))  # fmt: skip
    assert replay.exit_code == 0, replay.output
    would = [r["trigger"] for r in orjson.loads(replay.stdout)["runs"]]
    assert would == [f"create proj:in/{n}.txt" for n in "abcdef"]


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting to be reaped does not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


SLEEPER = "import os, time; open('out/pid', 'w').write(str(os.getpid())); time.sleep(60)"


@pytest.mark.slow
def test_sigkill_mid_run_is_reported_once_as_interrupted(world, agents, env):
    wid = world.create({"name": "slow", "triggers": [{"type": "file", "root": "proj", "paths": ["in/*.txt"],
                        "debounce_ms": 100, "events": ["create"]}],
                        "actions": [{"type": "run", "command": [sys.executable, "-c", SLEEPER]}]})  # fmt: skip
    world.approve(wid)
    world.runnable(1)
    (world.root / "in" / "go.txt").write_text("go")
    pid_file = world.root / "out" / "pid"
    child = int(wait_for(lambda: pid_file.exists() and pid_file.read_text(), what="the run to start"))
    try:
        world.agent.kill()  # SIGKILL: the run is recorded as started, never finished
        wait_for(lambda: not alive(child), what="the run's program to die with the agent")
        world.agent = agents(env, world.state, [], "--config", str(world.config))
        [event] = wait_for(lambda: run_events(world, wid), what="the interrupted run's report", timeout=30)
        assert event["meta"]["outcome"] == "interrupted"
        assert "exit_code" not in event or event["exit_code"] is None
        assert world.agent.stop() == 0
        # a crash between the spool and the store's mark: the next start reports the run again, with the same id
        with contextlib.closing(sqlite3.connect(world.state / "workflows.sqlite3")) as db, db:
            assert db.execute("UPDATE runs SET reported = 0").rowcount == 1
        world.agent = agents(env, world.state, [], "--config", str(world.config))
        wait_for(lambda: (world.agent.status().get("counters") or {}).get("duplicate", 0) >= 1,
                 what="the server to answer the re-report as a duplicate")  # fmt: skip
        assert [e["event_id"] for e in run_events(world, wid)] == [event["event_id"]]
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signal.SIGKILL)  # if it outlived the agent after all
