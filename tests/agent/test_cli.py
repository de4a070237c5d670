"""The `floyo agent` commands: shell hook through a real bash, record-run, pause/resume, status, the unit."""

from __future__ import annotations

import sys

from typer.testing import CliRunner

from floyo.cli import app
from tests.agent.helpers import server_events, settle, wait_for, write_config

runner = CliRunner()


def test_pause_stops_recording_until_resume(env, device, tmp_path, agents, shared_server):
    root = tmp_path / "notes"
    root.mkdir()
    config = write_config(tmp_path / "agent.toml", debounce_seconds=0.3, backoff_max_seconds=1.0)
    state = tmp_path / "state"
    url = shared_server
    agent = agents(env, state, [str(root)], "--server", url, "--token", device.token, "--config", str(config))
    result = runner.invoke(app, ["agent", "pause", "--state-dir", str(state)])
    assert result.exit_code == 0, result.output
    wait_for(lambda: agent.status().get("paused"), what="the agent to pause")
    (root / "diary.txt").write_text("private")
    recorded = runner.invoke(app, ["agent", "record-run", "--command", "ls", "--state-dir", str(state)])
    assert recorded.exit_code == 0
    assert runner.invoke(app, ["agent", "resume", "--state-dir", str(state)]).exit_code == 0
    wait_for(lambda: agent.status().get("paused") is False, what="the agent to resume")
    (root / "work.txt").write_text("public")
    events = settle(url, device.token, root)
    status = runner.invoke(app, ["agent", "status", "--state-dir", str(state)])
    assert [(e["kind"], e["path"]) for e in events] == [("create", "work.txt")]
    assert status.exit_code == 0
    assert "agent:     running" in status.output
    assert f"notes={root}" in status.output


def test_status_of_a_stopped_agent_and_bad_input(tmp_path):
    result = runner.invoke(app, ["agent", "status", "--state-dir", str(tmp_path / "none")])
    assert result.exit_code == 0
    assert "not running" in result.output
    assert runner.invoke(app, ["agent", "shell-hook", "fish"]).exit_code == 2
    missing = runner.invoke(app, ["agent", "watch", str(tmp_path / "nope"), "--state-dir", str(tmp_path / "s")])
    assert missing.exit_code == 1
    assert "not a folder" in missing.output


def test_install_service_writes_a_unit(tmp_path):
    config = tmp_path / "agent.toml"
    config.write_text('roots = ["~/projects"]\n')
    result = runner.invoke(
        app, ["agent", "install-service", "--config", str(config), "--unit-dir", str(tmp_path / "units")]
    )
    assert result.exit_code == 0, result.output
    unit = (tmp_path / "units" / "floyo-agent.service").read_text()
    assert f"ExecStart={sys.executable} -m floyo agent watch --config {config}" in unit
    assert "WantedBy=default.target" in unit
    assert "systemctl --user enable --now floyo-agent.service" in result.output


def test_sigterm_spools_and_sends_what_is_pending(env, device, tmp_path, agents, shared_server):
    root = tmp_path / "quick"
    root.mkdir()
    config = write_config(tmp_path / "agent.toml", debounce_seconds=30.0, backoff_max_seconds=1.0)
    agent = agents(env, tmp_path / "state", [str(root)], "--server", shared_server, "--token", device.token,
                   "--config", str(config))  # fmt: skip
    (root / "last-minute.txt").write_text("saved just before logout")
    wait_for(lambda: agent.status().get("pending"), what="the agent to see the file")  # still in its 30 s window
    assert agent.stop() == 0
    assert [(e["kind"], e["path"]) for e in server_events(shared_server, device.token)] == [
        ("create", "last-minute.txt")
    ]
