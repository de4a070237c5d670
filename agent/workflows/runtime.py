"""The workflows inside the running agent: the local store, the sync with the server, the engine and the local
activity log, with their threads; ``agent.runner`` starts and stops them around the watcher."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from agent.config import AgentConfig
from agent.workflows.activity import ACTIVITY_NAME, ActivityLog
from agent.workflows.engine import Engine
from agent.workflows.history import HISTORY_NAME
from agent.workflows.store import STORE_NAME, WorkflowStore
from agent.workflows.sync import Syncer

log = logging.getLogger(__name__)

# the workflow files of the state folder, all mode 600 (checked at every start like the spool)
PRIVATE_FILES = tuple(
    f"{name}{suffix}" for name in (STORE_NAME, HISTORY_NAME, ACTIVITY_NAME) for suffix in ("", "-wal", "-shm")
)


class WorkflowRuntime:
    """Store, syncer, engine and activity log of one agent."""

    def __init__(self, config: AgentConfig) -> None:
        self.store = WorkflowStore(config)
        self.syncer = Syncer(config, self.store)
        self.engine = Engine(self.store, self.store, config)
        self.activity = ActivityLog(config)
        self.stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def on_file_events(self, alias: str, events: list[dict[str, Any]]) -> None:
        """The watcher's recorded events: into the local activity log (for dry runs), then to the triggers."""
        try:
            self.activity.record(alias, events)
        except Exception:  # the log is a convenience: a full disk there must not stop the triggers
            log.exception("could not write the local activity log")
        self.engine.on_file_events(alias, events)

    def start(self) -> None:
        """Start the sync and engine threads."""
        self._threads = [
            threading.Thread(target=self.syncer.run, args=(self.stop,), name="workflow-sync", daemon=True),
            threading.Thread(target=self.engine.run, args=(self.stop,), name="workflow-engine", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def close(self, timeout: float = 30.0) -> None:
        """Stop: running workflows are stopped and their runs recorded (and queued for the server) first."""
        self.stop.set()
        self.syncer.wake.set()
        self.engine.wake()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self.activity.close()

    def status(self) -> dict[str, Any]:
        """What ``status.json`` shows of the workflows."""
        return {
            "paused": self.store.paused(),
            "synced_at": self.store.synced_at(),
            "sync_error": self.syncer.last_error,
            "runnable": len(self.engine.workflows),
            "running": self.engine.running(),
            "fired": self.engine.fired,
        }
