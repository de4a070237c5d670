"""Running the real agent and the real server for the agent's tests; waiting on observable conditions."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import httpx
import orjson

from agent.config import AgentConfig
from agent.spool import Spool
from agent.watcher import Watcher
from tests.utils.server import wait_until_ready

T = TypeVar("T")


def wait_for(condition: Callable[[], T], *, timeout: float = 20.0, what: str = "condition") -> T:
    """Poll ``condition`` until it returns something truthy, or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


@contextmanager
def serve_on(env: dict[str, str], port: int) -> Iterator[str]:
    """`floyo serve` on a given port (so an agent can find it again after a restart); stopped with SIGTERM.

    Its log goes to a file: a pipe nobody reads fills up (64 KiB) and then blocks the server mid-test."""
    with tempfile.TemporaryDirectory(prefix="floyo-serve-") as tmp:
        log = Path(tmp) / "server.log"
        with open(log, "wb") as sink:
            proc = subprocess.Popen(
                [sys.executable, "-m", "floyo", "serve", "--port", str(port)],
                env={**os.environ, **env},
                stdout=subprocess.DEVNULL,
                stderr=sink,
            )
        base_url = f"http://127.0.0.1:{port}"
        try:
            wait_until_ready(base_url, proc, log=log)
            yield base_url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def server_events(base_url: str, token: str) -> list[dict[str, Any]]:
    """Every event the server stored for the token's user (all pages)."""
    events: list[dict[str, Any]] = []
    cursor = None
    with httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=10) as client:
        while True:
            params: dict[str, Any] = {"limit": 1000, **({"cursor": cursor} if cursor else {})}
            page = client.get(f"{base_url}/api/v1/events", params=params).json()
            events.extend(page["events"])
            cursor = page["next_cursor"]
            if not cursor:
                return events


class AgentProcess:
    """`floyo agent watch` as a subprocess with its own state folder."""

    def __init__(self, env: dict[str, str], state_dir: Path, roots: list[str], *args: str) -> None:
        self.env = {**os.environ, **env}
        self.state_dir = state_dir
        self.cmd = [sys.executable, "-m", "floyo", "agent", "watch", *roots, "--state-dir", str(state_dir), *args]
        self.log = state_dir.parent / f"{state_dir.name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> AgentProcess:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        status = self.state_dir / "status.json"
        status.unlink(missing_ok=True)
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(self.cmd, env=self.env, stdout=log, stderr=log)
        wait_for(self._ready, timeout=30, what="the agent to be ready")
        return self

    def _ready(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"agent exited with {self.proc.returncode}: {self.log.read_text()[-3000:]}")
        return bool(self.status().get("ready"))

    def status(self) -> dict[str, Any]:
        try:
            return dict(orjson.loads((self.state_dir / "status.json").read_bytes()))
        except (OSError, orjson.JSONDecodeError):
            return {}

    def stop(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=60)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(timeout=10)

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


class InProcessWatcher:
    """The real watcher (real inotify, real spool) in a thread, without a server: events are read from the spool."""

    def __init__(self, config: AgentConfig) -> None:
        self.config = config
        self.spool = Spool(config.spool_path)
        self.watcher = Watcher(config, self.spool)
        self.thread = threading.Thread(target=self.watcher.run, daemon=True)
        self._seen = 0

    def __enter__(self) -> InProcessWatcher:
        self.thread.start()
        wait_for(self.watcher.ready.is_set, what="the watcher to be ready")
        return self

    def __exit__(self, *exc: object) -> None:
        self.watcher.shutdown()
        self.thread.join(timeout=20)

    def spooled(self) -> list[dict[str, Any]]:
        rows = self.spool.peek(1_000_000, 1 << 40)
        return [orjson.loads(body) for _, body in rows]

    def settle(self, root: Path, timeout: float = 20.0) -> list[dict[str, Any]]:
        """Events spooled since the last call: touches a sentinel file and waits for its event (inotify keeps order)."""
        sentinel = f"sentinel-{time.monotonic_ns()}.txt"
        (root / sentinel).write_text("s")

        def done() -> list[dict[str, Any]] | None:
            events = self.spooled()
            return events if any(e["path"] == sentinel for e in events[self._seen :]) else None

        events = wait_for(done, timeout=timeout, what="the sentinel event")
        assert events is not None
        new, self._seen = events[self._seen :], len(events)
        return [e for e in new if e["path"] != sentinel]


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return orjson.dumps(value).decode() if isinstance(value, str) else repr(value)


def write_config(path: Path, **values: Any) -> Path:
    """An agent TOML file with these keys."""
    path.write_text("".join(f"{k} = {_toml(v)}\n" for k, v in values.items()))
    return path


def settle(base_url: str, token: str, root: Path, rel_dir: str = "", *, timeout: float = 30.0, name=None):
    """Touch a sentinel file and wait until the server has its event; returns every stored event but sentinels."""
    sentinel = f"{rel_dir}/sentinel-{time.monotonic_ns()}.txt".lstrip("/")
    (root / sentinel).write_text("s")
    wanted = name(sentinel) if name else sentinel

    def arrived():
        events = server_events(base_url, token)
        return events if any(x["path"] == wanted for x in events) else None

    wait_for(arrived, timeout=timeout, what=f"the sentinel {sentinel}")
    # read again: a read that spans several pages can see the sentinel yet miss an earlier-dated event stored
    # while it paged (pages go in time order; rescanned events carry their files' older times)
    events = server_events(base_url, token)
    return [e for e in events if "sentinel-" not in e["path"] and (not name or e["path"] != wanted)]


PROMPT = b"@@floyo-prompt@@"
TYPING_GAP = 0.05  # seconds from a prompt to the next line typed: a fast typist needs well over 100 ms


class PtyShell:
    """An interactive bash or zsh on a pseudo-terminal, fed one line at a time: each line is sent after the
    prompt of the one before it appeared, as a person types them."""

    def __init__(self, argv: list[str], env: dict[str, str], cwd: Path) -> None:
        import pty

        master, slave = pty.openpty()
        self.proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env, cwd=cwd,
                                     start_new_session=True)  # fmt: skip
        os.close(slave)
        self.master = master
        self.output = b""
        self.prompt_at = 0.0
        # the prompt is typed with quotes in it, so the echo of the typed line never looks like the prompt
        marker = PROMPT.decode()
        self.line(f"PS1='{marker[:5]}''{marker[5:]} '; PROMPT=$PS1")

    def _read(self, until_prompts: int, timeout: float) -> None:
        import select

        deadline = time.monotonic() + timeout
        while self.output.count(PROMPT) < until_prompts:
            left = deadline - time.monotonic()
            if left <= 0 or self.proc.poll() is not None:
                raise AssertionError(f"no prompt after {timeout} s: {self.output[-2000:].decode(errors='replace')}")
            ready, _, _ = select.select([self.master], [], [], left)
            if ready:
                try:
                    self.output += os.read(self.master, 65536)
                except OSError:
                    continue

    def line(self, text: str, *, timeout: float = 20.0) -> tuple[float, float]:
        """Type ``text`` and Enter, wait for the next prompt; (time before typing, time the prompt came back).

        A line is typed ``TYPING_GAP`` after the prompt at the soonest, as a person types: the agent dates a
        write whose notification came late by its modification time, which is only known to two clock ticks
        (8 ms), so a command started within that of a write could be ordered before it.
        """
        time.sleep(max(0.0, self.prompt_at + TYPING_GAP - time.monotonic()))
        seen = self.output.count(PROMPT)
        before = time.time()
        os.write(self.master, text.encode() + b"\r")
        self._read(seen + 1, timeout)
        self.prompt_at = time.monotonic()
        return before, time.time()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.write(self.master, b"exit\r")
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self.master)
