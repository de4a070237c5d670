"""What the workflows wrote themselves, so that it triggers no workflow (no loops); docs/agent.md, "No loops".

Three kinds of own writes: the exact files a ``move`` or ``copy`` action wrote (while they are still as it left
them), the paths a ``run`` action declares in ``writes``, and, for a ``run`` that declares none, any change inside
its working folder made while it ran (judged by the change's own time, since events arrive after the watcher's
debounce, often after the run has ended).

``owner`` names the workflow behind an event, so the watcher can tag it (``meta.workflow_id``): the outcome
measure and the suggestions' mining then do not count an automation's writes as the person's manual work. It is
stricter than ``own``: a path matching a declared ``writes`` glob belongs to a workflow only while that workflow
runs (outside a run the person may write such a file by hand; it still triggers nothing).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.coalesce import file_state
from agent.spool import FileState
from agent.workflows.triggers import matches

MEMORY_SECONDS = 120.0  # how long a run's writes are remembered as its own (events reach the engine late)
NOTIFIED_SLACK = 1.0  # a delete or move is dated by its notification, which can follow the run's end a little
START_SLACK = 0.01  # a modification time is the kernel's coarse clock: up to a tick before the run's own start


@dataclass
class Window:
    """Where and when one run may write: its root, its working folder ('' = the whole root; None = it declared
    its ``writes``, so only those are its own), its start and (once over) end, wall clock."""

    alias: str
    scope: str | None
    started: float
    ended: float | None = None
    workflow_id: int | None = None
    writes: tuple[str, ...] = ()  # the run's declared ``writes`` globs (its own while it runs)


def _under(rel: str, scope: str) -> bool:
    return not scope or rel == scope or rel.startswith(scope + "/")


class OwnWrites:
    """The engine's memory of its workflows' writes; used under the engine's lock."""

    def __init__(self, roots: dict[str, Path]) -> None:
        self.roots = roots
        self.windows: list[Window] = []
        # (alias, rel) -> (state, forget at, the workflow that wrote it)
        self.files: dict[tuple[str, str], tuple[FileState | None, float, int | None]] = {}

    def wrote(self, alias: str, rel: str, state: FileState | None, workflow_id: int | None = None) -> None:
        """An action put ``rel`` in ``state`` (None: took it away)."""
        self.files[(alias, rel)] = (state, time.monotonic() + MEMORY_SECONDS, workflow_id)

    def window(
        self,
        alias: str,
        scope: str | None,
        started: float,
        workflow_id: int | None = None,
        writes: tuple[str, ...] = (),
    ) -> Window:
        """A run starts; set its ``ended`` when it is over."""
        window = Window(alias, scope, started, workflow_id=workflow_id, writes=writes)
        self.windows.append(window)
        return window

    def owner(self, alias: str, event: dict[str, Any]) -> int | None:
        """The workflow whose run or action made ``event``, None when it is not known to be one's."""
        paths = [event["path"], *([event["dest_path"]] if event.get("dest_path") else [])]
        root = self.roots.get(alias)
        for rel in paths:
            known = self.files.get((alias, rel))
            if known is not None and root is not None and file_state(str(root / rel)) == known[0]:
                return known[2]
        since = float(event.get("since") or event.get("wall") or time.time())
        slack = NOTIFIED_SLACK if event["kind"] in ("delete", "move") else 0.0
        for w in self.windows:
            during = since >= w.started - START_SLACK and (w.ended is None or since <= w.ended + slack)
            if w.alias != alias or not during:
                continue
            if w.scope is not None and any(_under(rel, w.scope) for rel in paths):
                return w.workflow_id
            if w.writes and any(matches(w.writes, rel) for rel in paths):
                return w.workflow_id
        return None

    def own(self, alias: str, event: dict[str, Any], declared: Iterable[tuple[str, tuple[str, ...]]]) -> bool:
        """Whether ``event`` (the watcher's, relative paths) is a workflow's own doing; ``declared`` holds the
        ``writes`` globs of every loaded workflow with its root."""
        paths = [event["path"], *([event["dest_path"]] if event.get("dest_path") else [])]
        root = self.roots.get(alias)
        for rel in paths:
            known = self.files.get((alias, rel))
            if known is not None and root is not None and file_state(str(root / rel)) == known[0]:
                return True
        if any(a == alias and matches(globs, rel) for a, globs in declared for rel in paths):
            return True
        since = float(event.get("since") or event.get("wall") or time.time())
        slack = NOTIFIED_SLACK if event["kind"] in ("delete", "move") else 0.0
        return any(
            w.alias == alias
            and w.scope is not None
            and since >= w.started - START_SLACK
            and (w.ended is None or since <= w.ended + slack)
            and any(_under(rel, w.scope) for rel in paths)
            for w in self.windows
        )

    def prune(self) -> None:
        """Forget what is too old to matter."""
        now, wall = time.monotonic(), time.time()
        self.windows = [w for w in self.windows if w.ended is None or wall - w.ended < MEMORY_SECONDS]
        if self.files:
            self.files = {k: v for k, v in self.files.items() if v[1] > now}
