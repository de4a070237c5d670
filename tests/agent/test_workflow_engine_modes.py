"""The engine's modes, limits and refusals, fed its trigger events directly; the programs and HTTP server are real."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import sys
import threading
import time
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from agent.config import AgentConfig
from agent.workflows.engine import Engine
from agent.workflows.model import Approved
from agent.workflows.triggers import Cron, any_glob, glob_regex, in_window, matches
from floyo.workflow_definition import FileTrigger, RunAction, ScheduleTrigger, TimeWindow, WorkflowDefinition
from tests.agent.helpers import wait_for
from tests.agent.workflow_helpers import Memory, approve

# appends "start PID" to LOG, waits for GATE to exist (at most 30 s), appends "end PID"
HOLD = """import os, pathlib, sys, time
log, gate = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
with log.open("a") as f: f.write(f"start {os.getpid()}\\n")
deadline = time.monotonic() + 30
while not gate.exists() and time.monotonic() < deadline: time.sleep(0.02)
with log.open("a") as f: f.write(f"end {os.getpid()}\\n")
"""
# a child in the same process group that ignores SIGTERM, both pids written, then both wait
SPAWN = """import os, signal, subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c",
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); time.sleep(60)"],
    stdout=subprocess.PIPE)
child.stdout.readline()
with open(sys.argv[1], "w") as f: f.write(f"{os.getpid()} {child.pid}")
print("spawned", flush=True)
time.sleep(60)
"""


class Bench:
    """The engine in its thread on a root folder, with an in-memory source and sink."""

    def __init__(self, tmp_path: Path, *approved: Approved, **config: Any) -> None:
        self.root = tmp_path / "home"
        (self.root / "in").mkdir(parents=True, exist_ok=True)
        (self.root / "work").mkdir(exist_ok=True)
        self.tools = tmp_path / "tools"
        self.tools.mkdir(exist_ok=True)
        (self.tools / "hold.py").write_text(HOLD)
        (self.tools / "spawn.py").write_text(SPAWN)
        self.log, self.gate = tmp_path / "hold.log", tmp_path / "gate"
        base = {"roots": {"home": self.root}, "state_dir": tmp_path / "state"}
        self.memory = Memory(*approved)
        self.engine = Engine(self.memory, self.memory, AgentConfig(**{**base, **config}))
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.engine.run, args=(self.stop,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.gate.touch()
        self.stop.set()
        self.engine.wake()
        self.thread.join(timeout=20)

    def lines(self, word: str) -> list[str]:
        text = self.log.read_text() if self.log.exists() else ""
        return [line for line in text.splitlines() if line.startswith(word)]

    def trigger(self, name: str, kind: str = "create") -> None:
        """A file event, as the watcher hands it over, then wait until the engine has acted on it."""
        now = time.time()
        self.engine.on_file_events("home", [{"kind": kind, "path": f"in/{name}", "since": now, "wall": now}])
        wait_for(lambda: self.engine.pending() == 0, what="the trigger to fire")


@pytest.fixture
def bench(tmp_path):
    made: list[Bench] = []

    def make(*approved: Approved, **config: Any) -> Bench:
        made.append(Bench(tmp_path, *approved, **config))
        return made[-1]

    yield make
    for b in made:
        b.close()


def workflow(command: list[str], mode: str = "single", max_: int = 3, **action: Any) -> dict[str, Any]:
    return {"name": f"{mode} workflow", "mode": mode, "max": max_,
            "triggers": [{"type": "file", "root": "home", "paths": ["in/*"], "events": ["create"], "debounce_ms": 0}],
            "actions": [{"type": "run", "command": command, "cwd": "work", **action}]}  # fmt: skip


def hold_cmd(tmp_path: Path) -> list[str]:
    return [sys.executable, str(tmp_path / "tools" / "hold.py"), str(tmp_path / "hold.log"), str(tmp_path / "gate")]


def test_single_drops_triggers_while_it_runs(tmp_path, bench):
    b = bench(approve(1, workflow(hold_cmd(tmp_path), "single")))
    b.trigger("a")
    wait_for(lambda: b.lines("start"), what="the first run")
    b.trigger("b")
    b.trigger("c")
    assert b.engine.running() == 1
    b.gate.touch()
    runs = b.memory.wait_runs(1)
    wait_for(lambda: b.engine.running() == 0, what="the run to end")
    assert [r.trigger["path"] for r in runs] == ["in/a"]
    assert len(b.lines("start")) == 1


def test_queued_runs_one_after_the_other_up_to_max_waiting(tmp_path, bench):
    b = bench(approve(1, workflow(hold_cmd(tmp_path), "queued", max_=1)))
    b.trigger("a")
    wait_for(lambda: b.lines("start"), what="the first run")
    b.trigger("b")  # waits
    b.trigger("c")  # the queue (max 1) is full: dropped
    assert b.engine.running() == 1
    b.gate.touch()
    runs = b.memory.wait_runs(2)
    wait_for(lambda: b.engine.running() == 0, what="the runs to end")
    assert [r.trigger["path"] for r in runs] == ["in/a", "in/b"]
    assert runs[1].started_at >= runs[0].ended_at  # one after the other
    assert len(b.lines("start")) == 2


def test_restart_stops_the_running_one_and_starts_again(tmp_path, bench):
    b = bench(approve(1, workflow(hold_cmd(tmp_path), "restart")))
    b.trigger("a")
    wait_for(lambda: b.lines("start"), what="the first run")
    b.trigger("b")
    first = b.memory.wait_runs(1)[0]
    assert (first.trigger["path"], first.outcome) == ("in/a", "cancelled")
    wait_for(lambda: len(b.lines("start")) == 2, what="the second run")
    b.gate.touch()
    runs = b.memory.wait_runs(2)
    assert [(r.trigger["path"], r.outcome) for r in runs] == [("in/a", "cancelled"), ("in/b", "ok")]
    assert len(b.lines("end")) == 1  # the first never got to its end: it was stopped


def test_parallel_runs_up_to_max_at_once(tmp_path, bench):
    b = bench(approve(1, workflow(hold_cmd(tmp_path), "parallel", max_=2)))
    for name in "abc":
        b.trigger(name)
    wait_for(lambda: len(b.lines("start")) == 2, what="two runs at once")
    assert b.engine.running() == 2
    b.gate.touch()
    runs = b.memory.wait_runs(2)
    wait_for(lambda: b.engine.running() == 0, what="the runs to end")
    assert sorted(r.trigger["path"] for r in runs) == ["in/a", "in/b"]
    assert all(r.outcome == "ok" for r in runs)


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (OSError, IndexError):
        return False


def test_a_run_past_its_time_limit_has_its_whole_process_group_killed(tmp_path, bench):
    pids = tmp_path / "pids"
    b = bench(approve(1, workflow([sys.executable, str(tmp_path / "tools" / "spawn.py"), str(pids)], timeout_s=1)))
    b.trigger("a")
    (run,) = b.memory.wait_runs(1)
    parent, child = map(int, pids.read_text().split())
    assert (run.outcome, run.error) == ("timeout", "killed after 1 s")
    assert "spawned" in run.output_tail
    wait_for(lambda: not _alive(parent) and not _alive(child), timeout=10, what="the group to be gone")
    # the child ignored SIGTERM: only the SIGKILL of the whole group ended it
    assert run.duration_ms is not None
    assert run.duration_ms >= 1000


def test_failures_in_a_row_disable_the_workflow_and_say_why(tmp_path, bench):
    b = bench(approve(1, workflow([sys.executable, "-c", "import sys; print('boom'); sys.exit(3)"])),
              max_consecutive_failures=2)  # fmt: skip
    b.trigger("a")
    b.memory.wait_runs(1)
    wait_for(lambda: b.engine.running() == 0, what="the run to end")
    b.trigger("b")
    runs = b.memory.wait_runs(2)
    assert [(r.outcome, r.exit_code, r.output_tail) for r in runs] == [("failed", 3, "boom\n")] * 2
    reason = wait_for(lambda: b.memory.disabled.get(1), what="the workflow disabled")
    assert reason.startswith("2 runs failed in a row")
    assert "exited with 3" in reason
    b.trigger("c")
    wait_for(lambda: b.engine.running() == 0 and 1 not in b.engine.workflows, what="the engine to drop it")
    assert len(b.memory.runs()) == 2


def test_the_runs_per_hour_cap_skips_and_says_so_once(tmp_path, bench):
    b = bench(approve(1, workflow([sys.executable, "-c", "pass"], "parallel", max_=10)), max_runs_per_hour=2)
    for name in "abcd":
        b.trigger(name)
    runs = b.memory.wait_runs(3)
    wait_for(lambda: b.engine.running() == 0, what="the runs to end")
    outcomes = sorted(r.outcome or "" for r in b.memory.runs())
    assert outcomes == ["ok", "ok", "skipped"]  # the 4th trigger is dropped without another record
    (skipped,) = [r for r in runs if r.outcome == "skipped"]
    assert skipped.error == "the limit of 2 runs per hour is reached"


def test_pause_and_disable_stop_what_runs_and_nothing_starts(tmp_path, bench):
    b = bench(approve(1, workflow(hold_cmd(tmp_path))))
    b.trigger("a")
    wait_for(lambda: b.lines("start"), what="the run")
    pid = int(b.lines("start")[0].split()[1])
    b.memory.pause()
    (run,) = b.memory.wait_runs(1)
    assert run.outcome == "cancelled"
    wait_for(lambda: not _alive(pid), what="the process to be stopped")
    b.trigger("b")
    assert b.engine.running() == 0
    b.memory.pause(False)
    wait_for(lambda: not b.engine.paused, what="the engine to resume")
    b.trigger("c")
    wait_for(lambda: len(b.lines("start")) == 2, what="a run after resume")
    b.memory.set()  # the server disabled it (or the person rejected it): the run stops
    runs = b.memory.wait_runs(2)
    assert [(r.trigger["path"], r.outcome) for r in runs] == [("in/a", "cancelled"), ("in/c", "cancelled")]
    b.trigger("d")
    assert b.engine.running() == 0
    assert len(b.lines("start")) == 2


def _constructed(
    action: RunAction | None = None, trigger: FileTrigger | ScheduleTrigger | None = None
) -> WorkflowDefinition:
    """A definition built without validation, as a bug or a tampered store could hand it to the engine."""
    return WorkflowDefinition.model_construct(
        name="hostile", enabled=True, mode="single", max=3, conditions=[],
        triggers=[trigger or FileTrigger.model_construct(type="file", root="home", paths=["in/*"], events=["create"],
                                                         debounce_ms=0)],
        actions=[action or RunAction.model_construct(type="run", command=["touch", "pwned"], cwd="work", timeout_s=5,
                                                     writes=[], args_from_history=False)],
    )  # fmt: skip


def test_a_hostile_definition_given_to_the_engine_is_refused(tmp_path, bench, caplog):
    run = RunAction.model_construct
    good = approve(7, workflow(["touch", "pwned"]))
    hostile = [
        Approved(1, 1, _constructed(run(type="run", command=["sh", "-c", "touch pwned"], cwd="work", timeout_s=5,
                                        writes=[], args_from_history=False)), "0" * 64),
        Approved(2, 1, _constructed(run(type="run", command=["touch", "pwned"], cwd="../..", timeout_s=5,
                                        writes=[], args_from_history=False)), "0" * 64),
        Approved(3, 1, _constructed(trigger=FileTrigger.model_construct(
            type="file", root="home", paths=["/etc/*"], events=["create"], debounce_ms=0)), "0" * 64),
        Approved(4, 1, _constructed(run(type="run", command=["touch pwned"], cwd="work", timeout_s=5, writes=[],
                                        args_from_history=False)), "0" * 64),
        Approved(5, 1, good.definition, "f" * 64),  # valid, but not what was approved
        Approved(6, 1, good.definition, good.definition_hash, {0: ["bash", "-c", "touch pwned"]}),  # approved argv
        Approved(9, 1, _constructed(trigger=ScheduleTrigger.model_construct(type="schedule", cron="*/0 * * * *")),
                 "0" * 64),
        approve(8, {**workflow(["touch", "pwned"]), "triggers": [
            {"type": "file", "root": "elsewhere", "paths": ["in/*"], "events": ["create"], "debounce_ms": 0}]}),
    ]  # fmt: skip
    with caplog.at_level(logging.ERROR, logger="agent.workflows.engine"):
        b = bench(*hostile)
        wait_for(lambda: b.engine._generation is not None, what="the engine to load")
        b.trigger("a")
    assert b.engine.workflows == {}
    assert b.engine.running() == 0
    assert b.memory.runs() == []
    assert not (b.root / "work" / "pwned").exists()
    refused = {r.getMessage().split(" ")[1] for r in caplog.records if "is not run" in r.getMessage()}
    assert refused == {"1", "2", "3", "4", "5", "6", "8", "9"}
    text = caplog.text
    assert "shell string" in text
    assert "may not go up" in text
    assert "not absolute" in text
    assert "contains a space" in text
    assert "hash differs" in text
    assert "not watched by this agent" in text
    assert "cron minute field '*/0'" in text


def test_paths_that_lead_out_of_the_root_through_symlinks_are_refused_at_run_time(tmp_path, bench):
    outside = tmp_path / "outside"
    outside.mkdir()
    b = bench(
        approve(1, {**workflow(["touch", "pwned"]), "actions": [{"type": "run", "command": ["touch", "pwned"],
                                                                 "cwd": "escape"}]}),
        approve(2, {**workflow([]), "name": "mover", "actions": [{"type": "move", "dest": "escape/"}]}),
    )  # fmt: skip
    (b.root / "escape").symlink_to(outside)
    (b.root / "in" / "a").write_text("mine")
    b.trigger("a")
    runs = b.memory.wait_runs(2)
    wait_for(lambda: b.engine.running() == 0, what="the runs to end")
    assert sorted((r.workflow_id, r.outcome) for r in runs) == [(1, "failed"), (2, "failed")]
    assert all("leads outside the root" in (r.error or "") for r in runs)
    assert list(outside.iterdir()) == []
    assert (b.root / "in" / "a").read_text() == "mine"


class _Hook(BaseHTTPRequestHandler):
    calls: ClassVar[list[tuple[str, dict[str, str], bytes]]] = []
    answers: ClassVar[list[int]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).calls.append((self.path, dict(self.headers), body))
        code = type(self).answers.pop(0) if type(self).answers else 200
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def hook_server():
    _Hook.calls, _Hook.answers = [], []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _webhook(url: str, secret: str | None, retries: int = 3) -> dict[str, Any]:
    return {**workflow([]), "name": "hook", "actions": [
        {"type": "webhook", "url": url, "secret": secret, "retries": retries, "timeout_s": 5}]}  # fmt: skip


def test_a_webhook_posts_a_signed_body_and_retries_on_5xx(tmp_path, bench, hook_server):
    _Hook.answers = [503, 500, 200]
    b = bench(approve(1, _webhook(f"{hook_server}/hooks/{{trigger.name}}", "hook")),
              webhook_secrets={"hook": "s3cret-value"})  # fmt: skip
    b.trigger("report one.pdf")
    (run,) = b.memory.wait_runs(1)
    assert run.outcome == "ok"
    assert len(_Hook.calls) == 3
    path, headers, body = _Hook.calls[-1]
    assert path == "/hooks/report%20one.pdf"
    expected = "sha256=" + hmac.new(b"s3cret-value", body, hashlib.sha256).hexdigest()
    assert headers["X-Floyo-Signature"] == expected
    doc = json.loads(body)
    assert (doc["workflow_id"], doc["run_id"], doc["trigger"]["path"]) == (1, run.run_id, "in/report one.pdf")
    assert "s3cret" not in body.decode()
    assert {c[2] for c in _Hook.calls} == {body}  # every attempt sends the same signed body


def test_a_webhook_fails_without_its_secret_and_does_not_retry_a_4xx(tmp_path, bench, hook_server):
    _Hook.answers = [400, 400]
    b = bench(approve(1, _webhook(f"{hook_server}/a", "missing")), approve(2, _webhook(f"{hook_server}/b", None)))
    b.trigger("x")
    runs = {r.workflow_id: r for r in b.memory.wait_runs(2)}
    assert runs[1].outcome == "failed"
    assert runs[1].error == "webhook secret 'missing' is not in [webhook_secrets] of the agent's config file"
    assert runs[2].outcome == "failed"
    assert runs[2].error == "the webhook answered HTTP 400 (after 1 attempt(s))"
    assert [c[0] for c in _Hook.calls] == ["/b"]
    assert "X-Floyo-Signature" not in _Hook.calls[0][1]


def test_the_environment_is_an_allow_list(tmp_path, bench, monkeypatch):
    monkeypatch.setenv("FLOYO_AGENT_TOKEN", "floyo_secret_token")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "nope")
    monkeypatch.setenv("MY_TOOL_HOME", "/opt/tool")
    out = tmp_path / "env.json"
    dump = f"import json, os; json.dump(dict(os.environ), open({str(out)!r}, 'w'))"
    b = bench(approve(1, workflow([sys.executable, "-c", dump])), run_env=("MY_TOOL_HOME",))
    b.trigger("a")
    b.memory.wait_runs(1)
    env = json.loads(out.read_text())
    assert "FLOYO_AGENT_TOKEN" not in env
    assert "AWS_SECRET_ACCESS_KEY" not in env
    assert env["MY_TOOL_HOME"] == "/opt/tool"
    assert env["PATH"] == os.environ["PATH"]
    assert env["FLOYO_TRIGGER_PATH"] == str(b.root / "in" / "a")


def test_a_schedule_fires_when_its_minute_comes(tmp_path, bench):
    definition = {**workflow([sys.executable, "-c", "pass"]), "triggers": [{"type": "schedule", "cron": "* * * * *"}]}
    b = bench(approve(1, definition))
    wait_for(lambda: 1 in b.engine.workflows, what="the workflow loaded")
    with b.engine._cond:
        b.engine._minute -= timedelta(minutes=1)  # as if the clock had just crossed a minute
    b.engine.wake()
    (run,) = b.memory.wait_runs(1)
    assert run.trigger["type"] == "schedule"
    assert run.trigger["cron"] == "* * * * *"
    assert run.outcome == "ok"


def test_cron_windows_and_globs():
    cron = Cron.parse(ScheduleTrigger(type="schedule", cron="*/15 9-17 * * 1-5"))
    monday = datetime(2026, 12, 7, 9, 30)
    assert cron.due(monday)
    assert not cron.due(monday.replace(minute=31))
    assert not cron.due(monday.replace(hour=18))
    assert not cron.due(monday + timedelta(days=6))  # Sunday
    either = Cron.parse(ScheduleTrigger(type="schedule", cron="0 8 1 * 0"))  # the 1st, or a Sunday
    assert either.due(datetime(2026, 12, 1, 8, 0))
    assert either.due(datetime(2026, 12, 13, 8, 0))
    assert not either.due(datetime(2026, 12, 14, 8, 0))
    night = TimeWindow(type="time_window", after="22:00", before="06:00")
    assert in_window(night, datetime(2026, 12, 7, 23, 0))
    assert in_window(night, datetime(2026, 12, 7, 5, 59))
    assert not in_window(night, datetime(2026, 12, 7, 12, 0))
    assert not in_window(TimeWindow(type="time_window", weekdays=[5, 6]), monday)
    assert matches(["Downloads/*.pdf"], "Downloads/a.pdf")
    assert not matches(["Downloads/*.pdf"], "Downloads/sub/a.pdf")
    assert matches(["**/*.md"], "a.md")
    assert matches(["**/*.md"], "x/y/a.md")
    assert matches(["src/**"], "src/a/b.py")
    assert matches(["f[0-9].txt"], "f1.txt")
    assert not matches(["f[!0-9].txt"], "f1.txt")
    combined = any_glob(["Downloads/*.pdf", "**/*.md", "src/**"])
    assert all(combined.match(p) for p in ("Downloads/a.pdf", "x/y/a.md", "src/a/b.py"))
    assert not any(combined.match(p) for p in ("Downloads/sub/a.pdf", "a.txt", "srcx/a.py"))
    assert not any_glob([]).match("anything")
    assert glob_regex("a.b").match("a.b")
    assert not glob_regex("a.b").match("axb")


ENGINE_ALONE = """
import sys, threading, time
from pathlib import Path
from agent.config import AgentConfig
from agent.workflows.engine import Engine
from tests.agent.workflow_helpers import Memory, approve
root, pid_file = Path(sys.argv[1]), sys.argv[2]
sleeper = f"import os, time; open({pid_file!r}, 'w').write(str(os.getpid())); time.sleep(60)"
memory = Memory(approve(1, {"name": "long", "actions": [{"type": "run", "command": [sys.executable, "-c", sleeper]}],
    "triggers": [{"type": "file", "root": "home", "paths": ["*"], "events": ["create"], "debounce_ms": 0}]}))
engine = Engine(memory, memory, AgentConfig(roots={"home": root}, state_dir=root.parent / "state"))
threading.Thread(target=engine.run, args=(threading.Event(),), daemon=True).start()
while not engine.workflows:
    time.sleep(0.01)
engine.on_file_events("home", [{"kind": "create", "path": "a", "since": time.time()}])
time.sleep(120)
"""


def test_a_program_does_not_outlive_an_agent_killed_mid_run(tmp_path):
    import signal
    import subprocess

    root, pid_file = tmp_path / "home", tmp_path / "program.pid"
    root.mkdir()
    agent = subprocess.Popen([sys.executable, "-c", ENGINE_ALONE, str(root), str(pid_file)])
    try:
        pid = int(wait_for(lambda: pid_file.exists() and pid_file.read_text(), what="the program to start"))
        assert _alive(pid)
        agent.send_signal(signal.SIGKILL)
        agent.wait(timeout=10)
        wait_for(lambda: not _alive(pid), timeout=10, what="the program to die with the agent")
    finally:
        agent.kill()
        agent.wait()


def test_notify_without_a_desktop_says_it_in_the_log(tmp_path, bench, monkeypatch, caplog):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    definition = {**workflow([]), "name": "tell me", "actions": [{"type": "notify", "message": "{trigger.name} came"}]}
    with caplog.at_level(logging.INFO, logger="agent.workflows.actions"):
        b = bench(approve(1, definition))
        b.trigger("report.pdf")
        (run,) = b.memory.wait_runs(1)
    assert run.outcome == "ok"
    assert run.output_tail == "logged: report.pdf came\n"
    assert "workflow 1 'tell me': report.pdf came" in caplog.text
