"""Running the agent: the watch loop in the main thread, the sender and the status writer beside it."""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from agent.config import AgentConfig
from agent.pause import LOG_NAME
from agent.secure import secure_state
from agent.sender import Sender
from agent.spool import Spool
from agent.watcher import Watcher
from agent.workflows.runtime import PRIVATE_FILES, WorkflowRuntime
from floyo.errors import InvalidInput

log = logging.getLogger(__name__)


def check_config(config: AgentConfig) -> None:
    """Refuse to start without roots, a server and a token, or with a root that is not a folder."""
    if not config.roots:
        raise InvalidInput("no_roots", "no folder to watch: give ROOTS or 'roots' in the config file")
    for alias, path in config.roots.items():
        if not path.is_dir():
            raise InvalidInput("bad_root", f"root {alias!r}: {path} is not a folder")
    if not config.server or not config.token:
        raise InvalidInput(
            "no_server",
            "the server URL and the device token are needed: `server` and `token` in the config file "
            "(or FLOYO_AGENT_SERVER and FLOYO_AGENT_TOKEN)",
        )


def oldest_queued_age(spool: Spool) -> float | None:
    """Seconds since the oldest queued event happened (the lag), None when nothing is queued."""
    batch = spool.peek(1, 1 << 30)
    if not batch:
        return None
    ts = datetime.fromisoformat(orjson.loads(batch[0][1])["ts"])
    return max(0.0, (datetime.now(UTC) - ts).total_seconds())


def write_status(path: Path, doc: dict[str, Any]) -> None:
    """Replace the status file atomically (mode 600: it names the roots)."""
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2))
    os.replace(tmp, path)


def _status_doc(
    config: AgentConfig, watcher: Watcher, sender: Sender, spool: Spool, started: float, workflows: WorkflowRuntime
) -> dict[str, Any]:
    stats = spool.stats()
    return {
        "pid": os.getpid(),
        "started_at": started,
        "updated_at": time.time(),
        "server": config.server,
        "roots": {alias: str(path) for alias, path in config.roots.items()},
        "privacy": config.privacy,
        "exclude": list(config.exclude),
        "config_file": str(config.config_file) if config.config_file else None,
        "ready": watcher.ready.is_set(),
        "paused": watcher.paused,
        "polled_roots": sorted(watcher.polled),
        "notifications": watcher.counters.raw,
        "overflows": watcher.counters.overflows,
        "rescans": watcher.counters.rescans,
        "pending": sum(len(s.pending) for s in watcher.roots.values()),
        "queued": stats.queued,
        "counters": {k: v for k, v in stats.counters.items() if ":" not in k},
        "lag_seconds": oldest_queued_age(spool),
        "spool_error": watcher.spool_error,
        "last_error": sender.state.last_error,
        "last_error_at": sender.state.last_error_at,
        "last_success_at": sender.state.last_success_at,
        "workflows": workflows.status(),
    }


DRAIN_SECONDS = 3.0


def drain(spool: Spool, sender: Sender, *, timeout: float) -> None:
    """On a clean stop, give the sender a few seconds to deliver what is queued (the rest waits in the spool)."""
    sender.wake.set()
    deadline = time.monotonic() + timeout
    while spool.queued() and time.monotonic() < deadline and sender.healthy():
        sender.stop.wait(0.05)  # the sender thread works meanwhile; it stops only when told


def limit_malloc_arenas(arenas: int = 2) -> None:
    """Cap glibc's per-thread malloc arenas before threads start: the agent's threads are few and mostly idle,
    and every extra arena keeps freed memory as RSS (MALLOC_ARENA_MAX, when set, wins)."""
    if "MALLOC_ARENA_MAX" in os.environ:
        return
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").mallopt(-8, arenas)  # M_ARENA_MAX


def run_agent(config: AgentConfig) -> None:
    """Watch and send until SIGTERM or SIGINT; what is pending is spooled before exiting."""
    check_config(config)
    limit_malloc_arenas()
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per POST is noise; failures are logged here
    assert config.server is not None
    assert config.token is not None
    secure_state(
        config.state_dir,
        [config.spool_path, config.status_path, config.state_dir / "privacy.key", config.state_dir / LOG_NAME,
         *(config.state_dir / name for name in PRIVATE_FILES),
         *(Path(f"{config.spool_path}{suffix}") for suffix in ("-wal", "-shm")),
         *([config.config_file] if config.config_file else [])],
    )  # fmt: skip
    spool = Spool(config.spool_path, max_events=config.max_spool_events, fsync=config.fsync)
    sender = Sender(spool, config.server, config.token, backoff_max=config.backoff_max_seconds)
    workflows = WorkflowRuntime(config)
    watcher = Watcher(
        config, spool, wake=sender.wake, on_events=workflows.on_file_events, owner_of=workflows.engine.owner_of
    )
    started = time.time()

    def stop(signum: int, _frame: Any) -> None:
        log.info("stopping on signal %d", signum)
        watcher.shutdown()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    def report() -> None:
        status_spool = Spool(config.spool_path, max_events=config.max_spool_events, fsync=config.fsync)
        while True:
            with contextlib.suppress(Exception):  # a status hiccup must never stop the agent
                write_status(config.status_path, _status_doc(config, watcher, sender, status_spool, started, workflows))
            # the first report as soon as the agent is ready, then one a second
            if sender.stop.wait(1.0 if watcher.ready.is_set() else 0.1):
                break
        status_spool.close()

    threads = [threading.Thread(target=sender.run, name="sender", daemon=True)]
    threads.append(threading.Thread(target=report, name="status", daemon=True))
    for thread in threads:
        thread.start()
    workflows.start()
    log.info("watching %s, sending to %s", ", ".join(f"{a}={p}" for a, p in config.roots.items()), config.server)
    try:
        watcher.run()
        workflows.close()  # running workflows stop and their runs are queued before the drain
        drain(spool, sender, timeout=DRAIN_SECONDS)
    finally:
        workflows.close()
        sender.stop.set()
        sender.wake.set()
        for thread in threads:
            thread.join(timeout=35)
        try:
            write_status(
                config.status_path, _status_doc(config, watcher, sender, spool, started, workflows) | {"pid": None}
            )
        except OSError as exc:  # a full disk: the spool is what matters, and it is intact
            log.error("could not write the final status: %s", exc)
        spool.close()


def _is_agent(pid: int) -> bool:
    """Whether ``pid`` is a live `floyo agent watch` (not a process that took over a stale pid)."""
    try:
        words = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"agent" in words and b"watch" in words


def stop_running_agent(config: AgentConfig, *, timeout: float = 30.0) -> str:
    """SIGTERM the agent named by the state folder's status and wait for it to exit; what was done, in words."""
    try:
        pid = orjson.loads(config.status_path.read_bytes()).get("pid")
    except (OSError, orjson.JSONDecodeError):
        pid = None
    if not isinstance(pid, int) or not _is_agent(pid):
        return f"no agent is running on {config.state_dir}"
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _is_agent(pid) and time.monotonic() < deadline:
        time.sleep(0.05)  # another process: nothing to wait on but its /proc entry
    if _is_agent(pid):
        raise InvalidInput("agent_still_running", f"the agent (pid {pid}) did not exit within {timeout:.0f} s")
    return f"agent (pid {pid}) stopped; what it had queued waits in {config.spool_path}"
