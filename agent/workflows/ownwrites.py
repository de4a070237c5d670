"""What the workflows wrote themselves, so that it triggers no workflow (no loops); docs/agent.md, "No loops".

Three kinds of own writes: the exact files a ``move`` or ``copy`` action wrote (while they are still as it left
them), the paths a ``run`` action declares in ``writes``, and, for a ``run`` that declares none, any change inside
its working folder made while it ran (judged by the change's own time, since events arrive after the watcher's
debounce, often after the run has ended).
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


def _under(rel: str, scope: str) -> bool:
    return not scope or rel == scope or rel.startswith(scope + "/")


class OwnWrites:
    """The engine's memory of its workflows' writes; used under the engine's lock."""

    def __init__(self, roots: dict[str, Path]) -> None:
        self.roots = roots
        self.windows: list[Window] = []
        self.files: dict[tuple[str, str], tuple[FileState | None, float]] = {}  # (alias, rel) -> state, forget at

    def wrote(self, alias: str, rel: str, state: FileState | None) -> None:
        """An action put ``rel`` in ``state`` (None: took it away)."""
        self.files[(alias, rel)] = (state, time.monotonic() + MEMORY_SECONDS)

    def window(self, alias: str, scope: str | None, started: float) -> Window:
        """A run starts; set its ``ended`` when it is over."""
        window = Window(alias, scope, started)
        self.windows.append(window)
        return window

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
