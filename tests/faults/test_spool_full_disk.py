"""The agent's state folder on a small tmpfs that fills up: a clear error, an intact spool, and every event sent
exactly once when space returns."""

from __future__ import annotations

import collections
import contextlib
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

from tests.agent.helpers import AgentProcess, serve_on, server_events, settle, wait_for, write_config
from tests.utils.server import free_port


@contextlib.contextmanager
def small_tmpfs(path: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` mounted on ``path`` (the tests run as root in CI and in the dev container)."""
    path.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=True)


def fill(folder: Path) -> Path:
    """Write a file until the file system has no room left; returns it."""
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        with contextlib.suppress(OSError):
            while os.write(fd, b"\0" * 4096):
                pass
    finally:
        os.close(fd)
    return filler


def integrity(spool: Path) -> str:
    with contextlib.closing(sqlite3.connect(spool)) as db:
        return str(db.execute("PRAGMA integrity_check").fetchone()[0])


def test_a_full_disk_is_reported_and_every_event_arrives_once_space_returns(env, device, tmp_path: Path) -> None:
    root = tmp_path / "watched"
    root.mkdir()
    config = write_config(tmp_path / "agent.toml", backoff_max_seconds=0.5, debounce_seconds=0.2)
    with serve_on(env, free_port()) as url, small_tmpfs(tmp_path / "state", "2m") as state:
        agent = AgentProcess(env, state, [str(root)], "--server", url, "--token", device.token,
                             "--config", str(config))  # fmt: skip
        try:
            agent.start()
            for i in range(20):
                (root / f"before-{i}.txt").write_text(str(i))
            settle(url, device.token, root)
            filler = fill(state)
            for i in range(300):
                (root / f"full-{i}.txt").write_text(str(i))
            wait_for(lambda: "disk is full" in agent.log.read_text(), timeout=20, what="the agent to log a full disk")
            assert agent.proc is not None
            assert agent.proc.poll() is None
            filler.unlink()  # space returns
            events = settle(url, device.token, root, timeout=60)
            wait_for(lambda: agent.status().get("queued") == 0, what="an empty spool")
            assert agent.status()["spool_error"] is None
            stored = server_events(url, device.token)
            assert agent.stop() == 0
        finally:
            agent.close()
        assert integrity(state / "spool.sqlite3") == "ok"
    creates = collections.Counter(e["path"] for e in events if e["kind"] == "create")
    expected = {f"before-{i}.txt" for i in range(20)} | {f"full-{i}.txt" for i in range(300)}
    assert creates == collections.Counter(expected)
    assert len({e["event_id"] for e in stored}) == len(stored)  # nothing sent twice
    log = agent.log.read_text()
    assert "cannot write the spool" in log
    assert "events wait in memory and are retried" in log
    assert "the spool can be written again" in log
