"""A real uvicorn server in a subprocess, for tests where HTTP behaviour matters."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until_ready(
    base_url: str, proc: subprocess.Popen[bytes], timeout: float = 30.0, log: Path | None = None
) -> None:
    """Poll the readiness endpoint until it answers 200 (the server is a separate process)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            output = log.read_text(errors="replace") if log else ""
            raise RuntimeError(f"server exited with {proc.returncode}: {output[-4000:]}")
        try:
            if httpx.get(f"{base_url}/health/readiness", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"{base_url} not ready after {timeout} s")


@dataclass(frozen=True)
class LiveServer:
    """A running ``floyo serve``: its URL, its process and the file its stderr (the JSON log) goes to."""

    url: str
    proc: subprocess.Popen[bytes]
    log: Path

    def log_lines(self) -> list[str]:
        """Every line the server has logged so far."""
        return self.log.read_text(errors="replace").splitlines()


@contextmanager
def running_server(env: dict[str, str], *, workers: int = 1, ready_timeout: float = 30.0) -> Iterator[LiveServer]:
    """Run `floyo serve` with ``env`` on a free port; stops it with SIGTERM (then waits for it) on exit."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="floyo-server-") as tmp:
        log = Path(tmp) / "server.log"
        # stderr goes to a file, never a pipe nobody reads: a full pipe would block the server mid-test
        with open(log, "wb") as sink:
            proc = subprocess.Popen(
                [sys.executable, "-m", "floyo", "serve", "--port", str(port), "--workers", str(workers)],
                env={**os.environ, **env},
                stdout=subprocess.DEVNULL,
                stderr=sink,
            )
        server = LiveServer(f"http://127.0.0.1:{port}", proc, log)
        try:
            wait_until_ready(server.url, proc, timeout=ready_timeout, log=log)
            yield server
        finally:
            stop(proc)


def stop(proc: subprocess.Popen[bytes], timeout: float = 30.0) -> int:
    """SIGTERM, wait (graceful shutdown), SIGKILL only if it hangs; returns the exit code."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


@contextmanager
def live_server(env: dict[str, str], *, workers: int = 1) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Run `floyo serve` with ``env`` on a free port; yields (base URL, process); stops it with SIGTERM."""
    with running_server(env, workers=workers) as server:
        yield server.url, server.proc
