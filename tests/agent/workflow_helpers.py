"""The workflow engine's test bench: an in-memory source and sink, and the real watcher feeding the real engine."""

from __future__ import annotations

import copy
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

from agent.config import AgentConfig
from agent.workflows.engine import Engine
from agent.workflows.model import Approved, RunRecord
from floyo.workflow_definition import WorkflowDefinition, definition_hash, validate_definition
from tests.agent.helpers import InProcessWatcher, wait_for


def approve(workflow_id: int, definition: dict[str, Any], *, version: int = 1,
            argv: dict[int, list[str]] | None = None) -> Approved:  # fmt: skip
    """What a person's approval of ``definition`` looks like to the engine."""
    clean = validate_definition(definition)
    return Approved(workflow_id, version, WorkflowDefinition.model_validate(clean), definition_hash(clean), argv or {})


class Memory:
    """A WorkflowSource and RunSink in memory: what a test approves, and every run the engine records."""

    def __init__(self, *approved: Approved) -> None:
        self.lock = threading.Lock()
        self.approved = list(approved)
        self.gen = 1
        self.is_paused = False
        self.started_runs: list[RunRecord] = []
        self.finished_runs: list[RunRecord] = []
        self.disabled: dict[int, str] = {}

    def set(self, *approved: Approved) -> None:
        with self.lock:
            self.approved = list(approved)
            self.gen += 1

    def pause(self, paused: bool = True) -> None:
        with self.lock:
            self.is_paused = paused
            self.gen += 1

    def runnable(self) -> list[Approved]:
        with self.lock:
            return [] if self.is_paused else list(self.approved)

    def generation(self) -> int:
        return self.gen

    def paused(self) -> bool:
        return self.is_paused

    def started(self, run: RunRecord) -> None:
        with self.lock:
            self.started_runs.append(copy.copy(run))

    def finished(self, run: RunRecord) -> None:
        with self.lock:
            self.finished_runs.append(copy.copy(run))

    def disable(self, workflow_id: int, reason: str) -> None:
        with self.lock:
            self.disabled[workflow_id] = reason
            self.approved = [a for a in self.approved if a.workflow_id != workflow_id]
            self.gen += 1

    def runs(self, workflow_id: int | None = None) -> list[RunRecord]:
        """Finished runs (of one workflow)."""
        with self.lock:
            return [r for r in self.finished_runs if workflow_id is None or r.workflow_id == workflow_id]

    def wait_runs(self, count: int, workflow_id: int | None = None, timeout: float = 20.0) -> list[RunRecord]:
        wait_for(lambda: len(self.runs(workflow_id)) >= count, timeout=timeout, what=f"{count} finished run(s)")
        return self.runs(workflow_id)


class Rig:
    """The real watcher (inotify, coalescing, spool) feeding the real engine, both in threads, on ``root``."""

    def __init__(self, tmp_path: Path, memory: Memory, **config: Any) -> None:
        self.root = tmp_path / "home"
        self.root.mkdir(exist_ok=True)
        base = AgentConfig(roots={"home": self.root}, state_dir=tmp_path / "state", debounce_seconds=0.2)
        self.config = replace(base, **config)
        self.memory = memory
        self.engine = Engine(memory, memory, self.config)
        self.watching = InProcessWatcher(self.config)
        self.seen: list[dict[str, Any]] = []  # every event the engine was given, after it took it
        self.watching.watcher.on_events = self._on_events
        self.watching.watcher.owner_of = self.engine.owner_of
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.engine.run, args=(self.stop,), daemon=True)

    def _on_events(self, alias: str, events: list[dict[str, Any]]) -> None:
        self.engine.on_file_events(alias, events)
        self.seen.extend(events)

    def __enter__(self) -> Rig:
        self.watching.__enter__()
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.engine.wake()
        self.thread.join(timeout=20)
        self.watching.__exit__()

    def quiet(self, timeout: float = 20.0) -> None:
        """Every file event so far has reached the engine (a sentinel's event came after them), no trigger waits
        for its debounce and nothing runs."""
        seen = len(self.seen)
        self.watching.settle(self.root, timeout=timeout)
        # the spool has the sentinel; the engine gets it just after
        wait_for(lambda: any("sentinel-" in e["path"] for e in self.seen[seen:]), timeout=timeout,
                 what="the engine to get the sentinel")  # fmt: skip
        wait_for(lambda: self.engine.pending() == 0 and self.engine.running() == 0, timeout=timeout,
                 what="the engine to be idle")  # fmt: skip
