"""Servers the demo leaves running: started detached with their output in a log file and their pid recorded in the
data dir, waited for until they answer, and stopped by that pid (SIGTERM, then SIGKILL after a grace period)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from floyo.errors import Unavailable


def alive(pid: int) -> bool:
    """Whether a process with this pid exists (and may be signalled by us)."""
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def recorded_pid(pid_path: Path) -> int | None:
    """The pid a start recorded, or None when there is none (or the file is not one)."""
    try:
        return int(pid_path.read_text().split()[0])
    except (FileNotFoundError, IndexError, ValueError):
        return None


def start_detached(
    argv: list[str],
    *,
    log_path: Path,
    pid_path: Path,
    ready: Callable[[], bool],
    timeout_s: float,
    failed: tuple[str, str],
    env: dict[str, str] | None = None,
) -> int:
    """Start ``argv`` in its own session (it outlives us), record its pid, wait until ``ready()``; its pid.

    ``failed`` is the error code and message raised (Unavailable, naming the log) when it exits or is not ready
    within ``timeout_s``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(argv, env=env, stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True)
    pid_path.write_text(f"{proc.pid}\n")
    deadline = time.monotonic() + timeout_s
    while not ready():
        if proc.poll() is not None or time.monotonic() > deadline:
            code, message = failed
            raise Unavailable(code, f"{message}; see {log_path}")
        time.sleep(0.2)  # polling a separate process until it answers
    return proc.pid


def stop_recorded(pid_path: Path, *, grace_s: float) -> tuple[int, bool] | None:
    """Stop the process whose pid ``pid_path`` records and forget it: ``(pid, was_running)``, or None when no pid
    was recorded. SIGTERM lets it finish in-flight work; SIGKILL follows after ``grace_s``."""
    pid = recorded_pid(pid_path)
    pid_path.unlink(missing_ok=True)
    if pid is None:
        return None
    if not alive(pid):
        return pid, False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)  # waiting for a separate process to exit
    if alive(pid):
        os.kill(pid, signal.SIGKILL)
    return pid, True
