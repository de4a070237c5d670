"""The shell hooks in real interactive bash and zsh sessions: times from the shell, exact order, root and folder."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import text

from tests.agent.helpers import PtyShell, server_events, wait_for, write_config

TOLERANCE = 0.050  # seconds between a recorded time and the truth


@dataclass
class Expected:
    """One event the session must produce, and the true time it must carry (a moment, or the bounds the test
    can observe: a run starts after its line was typed and before its first effect)."""

    key: tuple[Any, ...]
    truth: float | None = None
    bounds: tuple[float, float] | None = None


def client_time(event: dict[str, Any]) -> float:
    """The time the agent sent (stored as it came; ``ts`` has the server's clock-skew estimate added)."""
    return datetime.fromisoformat(event["client_ts"]).timestamp()


def key_of(event: dict[str, Any]) -> tuple[Any, ...]:
    if event["kind"] == "run":
        sub = (event.get("meta") or {}).get("subcommand")
        return ("run", event["tool"], sub, event["exit_code"], event["root"], event["path"])
    return (event["kind"], event["root"], event["path"])


def run_session(shell: str, home: Path, state: Path, env: dict[str, str]) -> list[Expected]:
    """Type a script of commands and file writes; what each must record, with its truth."""
    thesis = home / "projects" / "thesis"
    outside = home / "outside"
    outside.mkdir()
    hook = subprocess.run([sys.executable, "-m", "floyo", "agent", "shell-hook", shell, "--state-dir", str(state)],
                          env=env, capture_output=True, text=True, check=True).stdout  # fmt: skip
    (outside / "hook.sh").write_text(hook)
    argv = ["bash", "--norc", "--noprofile", "-i"] if shell == "bash" else ["zsh", "-f", "-i"]
    session = PtyShell(argv, env, home)
    expected: list[Expected] = []

    def run(tool: str, sub: str | None = None, code: int = 0, **when: Any) -> None:
        expected.append(Expected(("run", tool, sub, code, "projects", "thesis"), **when))

    def mtime(name: str) -> float:
        return (thesis / name).stat().st_mtime

    def created(name: str) -> None:
        expected.append(Expected(("create", "projects", f"thesis/{name}"), truth=mtime(name)))

    try:
        session.line(f"source {outside}/hook.sh")
        session.line(f"cd {thesis}")  # a builtin: no run
        # a run starts after its line was typed and before its first effect (the file it writes, the time it
        # prints); on a busy machine that effect can come a good part of a second after the start
        before, _ = session.line("touch a.txt")
        run("touch", bounds=(before, mtime("a.txt")))
        created("a.txt")
        before, _ = session.line(f"date +%s.%N > {outside}/date.txt")
        run("date", bounds=(before, float((outside / "date.txt").read_text())))
        before, after = session.line("sleep 0.3")
        run("sleep", bounds=(before, after - 0.3))
        before, _ = session.line("cp a.txt b.txt")
        run("cp", bounds=(before, mtime("b.txt")))
        created("b.txt")
        session.line("printf x > c.txt")  # a builtin: the file only
        created("c.txt")
        before, after = session.line("git init -q repo")
        run("git", "init", bounds=(before, after))
        before, after = session.line("/bin/false --token=hunter2")
        run("false", code=1, bounds=(before, after))
        before, _ = session.line("env FOO=1 nice -n 5 touch d.txt")
        run("touch", bounds=(before, mtime("d.txt")))
        created("d.txt")
        before, after = session.line(f"{sys.executable} -m json.tool --help > /dev/null")
        run("json.tool", bounds=(before, after))
        session.line("for f in e f; do touch $f.txt; done")  # a loop: no run, its files only
        created("e.txt")
        created("f.txt")
    finally:
        session.close()
    return expected


@pytest.mark.slow
@pytest.mark.parametrize("shell", ["bash", "zsh"])
def test_a_shell_session_is_recorded_in_order_with_the_shells_times(shell, env, device, engine, tmp_path, agents,
                                                                  shared_server):  # fmt: skip
    assert shutil.which(shell), f"{shell} is needed (.ci/run installs it)"
    home = tmp_path / "home"
    (home / "projects" / "thesis").mkdir(parents=True)
    state = tmp_path / "state"
    config = write_config(tmp_path / "agent.toml", debounce_seconds=1.0, backoff_max_seconds=1.0)
    agent_env = {**env, "FLOYO_AGENT_TOKEN": device.token}
    # the roots on the command line (not in the config): the hook finds them in the agent's state folder
    agents(agent_env, state, [f"projects={home / 'projects'}"], "--server", shared_server, "--config", str(config))
    shell_env = {**os.environ, **env, "HOME": str(home), "TERM": "dumb", "HISTFILE": "/dev/null"}
    expected = run_session(shell, home, state, shell_env)

    def arrived() -> list[dict[str, Any]] | None:
        events = [e for e in server_events(shared_server, device.token) if e["kind"] != "open"]
        return events if len(events) >= len(expected) else None

    found = wait_for(arrived, timeout=60, what=f"{len(expected)} events")
    assert found is not None
    events = sorted(found, key=client_time)
    t0 = client_time(events[0])
    got = [(round(client_time(e) - t0, 4), key_of(e)) for e in events]
    truths = [(round((x.truth or (x.bounds or (0.0, 0.0))[0]) - t0, 4), x.key) for x in expected]
    assert [k for _, k in got] == [x.key for x in expected], f"recorded {got}\nexpected {truths}"
    for event, want in zip(events, expected, strict=True):
        at = client_time(event)
        if want.truth is not None:
            assert abs(at - want.truth) <= TOLERANCE, (want.key, at - want.truth)
        else:
            assert want.bounds is not None
            assert want.bounds[0] - TOLERANCE <= at <= want.bounds[1] + TOLERANCE, (want.key, at, want.bounds)
    sleep = next(e for e in events if e.get("tool") == "sleep")
    assert 300 <= sleep["duration_ms"] <= 300 + 1000 * TOLERANCE * 4
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT e::text, kind FROM events e WHERE user_id = :u"), {"u": device.user_id}).all()
    assert len([r for r in rows if r[1] != "open"]) == len(events)
    assert not [r for r in rows if "hunter2" in r[0] or "FOO" in r[0]]  # arguments never reach the server


@pytest.mark.parametrize("roots_from", ["command line", "config file"])
def test_the_recorder_finds_the_roots_and_privacy_of_the_agent(tmp_path, roots_from):
    from agent.config import AgentConfig
    from agent.runner import write_status
    from agent.shell import record_run
    from agent.spool import Spool
    from floyo.privacy import hash_path

    projects = tmp_path / "home" / "projects"
    (projects / "thesis" / "ch1").mkdir(parents=True)
    state = tmp_path / "state"
    state.mkdir()
    roots = {"projects": projects, "home": tmp_path / "home"}
    # what the recorder's own config knows: the roots only when they are in the config file
    config = AgentConfig(state_dir=state, roots=roots if roots_from == "config file" else {}, privacy_key="k" * 32)
    if roots_from == "command line":  # the running agent's status names them
        write_status(config.status_path, {"roots": {a: str(p) for a, p in roots.items()}, "privacy": False})
    started = 1_790_000_000.123456
    assert record_run(config, command_line="LANG=C git -C .. commit -m 'secret message'", exit_code=0,
                      duration_ms=12, cwd=projects / "thesis", started_at=started)  # fmt: skip
    write_status(config.status_path, {"roots": {a: str(p) for a, p in roots.items()}, "privacy": True})
    assert record_run(config, command_line="make test", exit_code=2, duration_ms=1, cwd=projects / "thesis" / "ch1",
                      started_at=started + 1)  # fmt: skip
    assert not record_run(config, command_line="cd ..", exit_code=0, duration_ms=0, cwd=projects, started_at=started)
    spool = Spool(config.spool_path)
    first, second = (orjson.loads(body) for _, body in spool.peek(10, 1 << 20))
    spool.close()
    assert (first["root"], first["path"], first["tool"], first["meta"]) == ("projects", "thesis", "git",
                                                                             {"subcommand": "commit"})  # fmt: skip
    assert datetime.fromisoformat(first["ts"]).timestamp() == pytest.approx(started, abs=1e-6)
    assert (first["exit_code"], first["duration_ms"]) == (0, 12)
    assert "secret" not in orjson.dumps(first).decode()
    # the agent runs with privacy now: the folder is hashed with the key of the agent's config
    assert (second["root"], second["path"], second["tool"]) == ("projects", hash_path("thesis/ch1", b"k" * 32), "make")
    assert second["meta"] == {"subcommand": "test"}
