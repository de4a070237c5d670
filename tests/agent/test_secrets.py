"""The token never needs the command line; the agent's files are the user's alone; `floyo agent stop`."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from typer.testing import CliRunner

from floyo.cli import app
from tests.agent.helpers import server_events, settle, wait_for, write_config

runner = CliRunner()


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_token_from_the_config_file_never_in_argv_and_files_made_private(env, device, tmp_path, agents,
                                                                          shared_server):  # fmt: skip
    root = tmp_path / "work"
    root.mkdir()
    state = tmp_path / "state"
    state.mkdir(mode=0o755)
    os.chmod(state, 0o755)  # as an older agent left it
    (state / "spool.sqlite3").touch(mode=0o644)
    os.chmod(state / "spool.sqlite3", 0o644)
    config = write_config(tmp_path / "agent.toml", server=shared_server, token=device.token, roots=[str(root)],
                          debounce_seconds=0.3, backoff_max_seconds=1.0)  # fmt: skip
    os.chmod(config, 0o644)
    agent = agents(env, state, [], "--config", str(config))
    assert agent.proc is not None
    assert device.token.encode() not in Path(f"/proc/{agent.proc.pid}/cmdline").read_bytes()
    (root / "a.txt").write_text("x")
    assert [e["path"] for e in settle(shared_server, device.token, root)] == ["a.txt"]
    assert mode(state) == 0o700
    assert mode(config) == 0o600
    for name in ("spool.sqlite3", "spool.sqlite3-wal", "status.json"):
        assert mode(state / name) == 0o600, name
    assert "readable by others: set to 600" in agent.log.read_text()


def test_token_from_the_environment_and_a_new_state_folder_is_private(env, device, tmp_path, agents,
                                                                       shared_server):  # fmt: skip
    root = tmp_path / "work"
    root.mkdir()
    state = tmp_path / "fresh" / "state"
    agents({**env, "FLOYO_AGENT_TOKEN": device.token}, state, [str(root)], "--server", shared_server)
    (root / "b.txt").write_text("x")
    assert [e["path"] for e in settle(shared_server, device.token, root)] == ["b.txt"]
    assert mode(state) == 0o700
    assert mode(state / "spool.sqlite3") == 0o600


def test_token_on_the_command_line_still_works_with_a_warning(tmp_path):
    result = runner.invoke(app, ["agent", "watch", str(tmp_path / "missing"), "--token", "floyo_abc",
                                 "--server", "http://127.0.0.1:9", "--state-dir", str(tmp_path / "s")])  # fmt: skip
    assert "warning: --token is visible to every user" in result.output
    assert "FLOYO_AGENT_TOKEN" in result.output
    assert result.exit_code == 1  # then the usual check: the root is missing
    assert "not a folder" in result.output


def test_without_a_token_the_message_names_the_safe_places(tmp_path):
    (tmp_path / "r").mkdir()
    result = runner.invoke(app, ["agent", "watch", str(tmp_path / "r"), "--server", "http://127.0.0.1:9",
                                 "--state-dir", str(tmp_path / "s"), "--config", str(tmp_path / "none.toml")])  # fmt: skip
    assert result.exit_code == 1
    assert "`token` in the config file" in result.output
    assert "FLOYO_AGENT_TOKEN" in result.output


def test_agent_stop_stops_a_background_agent(env, device, tmp_path, agents, shared_server):
    root = tmp_path / "work"
    root.mkdir()
    state = tmp_path / "state"
    agent = agents({**env, "FLOYO_AGENT_TOKEN": device.token}, state, [str(root)], "--server", shared_server)
    (root / "c.txt").write_text("x")
    wait_for(lambda: agent.status().get("pending") or agent.status().get("counters", {}).get("captured"),
             what="the agent to see the file")  # fmt: skip
    result = runner.invoke(app, ["agent", "stop", "--state-dir", str(state)])
    assert result.exit_code == 0, result.output
    assert "stopped" in result.output
    assert agent.proc is not None
    assert agent.proc.wait(timeout=10) == 0  # a clean exit: what was pending was spooled and sent
    assert [e["path"] for e in server_events(shared_server, device.token)] == ["c.txt"]
    again = runner.invoke(app, ["agent", "stop", "--state-dir", str(state)])
    assert again.exit_code == 0
    assert "no agent is running" in again.output
