"""Coalescing raw file-system notifications of one root into the events a person would name.

Every raw notification only marks a path as *touched*; when the path has been quiet for the debounce window
the outcome is decided from two facts, not from the notification sequence: the file's state in the index
(what was last reported) and its state on disk now. So

- several writes within the window are one ``modify`` (or one ``create`` for a new file);
- a temporary that is written and renamed over the real file (VS Code, JetBrains, LibreOffice, vim
  ``backupcopy=no``) is one ``modify`` of the real file, and the temporary, which did not exist before and
  does not exist after, is nothing;
- a rename of a reported file, possibly through intermediate names, is one ``move`` (same inode);
- a file that appears and disappears within the window (swap files, ``4913``, lock files) is nothing;
- a late notification of a write whose result was already reported (same mtime, size and inode as the
  index) is nothing, so a backlog of notifications never doubles an event;
- notifications lost to an inotify overflow are recovered by a rescan that touches every path whose
  disk state differs from the index.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.filters import PathFilter
from agent.spool import FileIndex, FileState


@dataclass
class Pending:
    """A touched path waiting for its quiet window to end."""

    before: FileState | None
    first: float
    last: float
    wall: float  # the latest notification's time
    first_wall: float = 0.0  # the first one's
    opened: bool = False
    moved_from: str | None = None
    moved_to: str | None = None
    source: str = "watch"


@dataclass
class Outcome:
    """What one flush reports: events (plain dicts, before privacy) and the index changes behind them."""

    events: list[dict[str, Any]] = field(default_factory=list)
    upserts: dict[str, FileState] = field(default_factory=dict)
    deletes: set[str] = field(default_factory=set)


def file_state(path: str) -> FileState | None:
    """(mtime_ns, size, inode) of a regular file or symlink at ``path``; None when absent or a folder."""
    try:
        st = os.lstat(path)
    except OSError:
        return None
    if stat.S_ISDIR(st.st_mode):
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


MTIME_SLACK = 5.0  # seconds a write may precede its first notification's arrival (a busy machine)


def _mtime_lag() -> float:
    """How far a file's modification time can lag the write: the kernel stamps files from its coarse clock,
    which is updated once a tick (1 to 10 ms) and, on a CPU back from idle, up to a tick late; two ticks."""
    try:
        tick = time.clock_getres(getattr(time, "CLOCK_REALTIME_COARSE", 5))
    except OSError:
        tick = 0.01
    return 2 * tick


MTIME_LAG = _mtime_lag()


def event_time(entry: Pending, written: FileState | None) -> tuple[float, float]:
    """When it happened: (the time the event carries, the earliest it can have happened).

    The time is the latest notification's arrival, or sooner the modification time plus its largest lag. A
    notification reaches the agent late when the machine is busy (a second is seen under load), so a write's
    time is capped by its modification time; that one is taken from the kernel's coarse clock and lags the
    write by up to ``MTIME_LAG``, so capped at ``mtime + MTIME_LAG`` a write is never dated before the command
    that made it (measured on 20,000 writes: the lag never reached two ticks). The earliest is the modification
    time itself (a pause is judged by it: `floyo agent pause` and `resume` wait ``MTIME_LAG`` before they
    return). A modification time far before the notifications (``cp -p``, ``tar``, ``touch -d``), or a whole
    second (a file system with coarse times), is not the write's time.
    """
    if written is not None and written[0] % 1_000_000_000:
        mtime = written[0] / 1e9
        if entry.first_wall - MTIME_SLACK <= mtime + MTIME_LAG:
            at = min(entry.wall, mtime + MTIME_LAG)
            return at, min(mtime, at)
    return entry.wall, entry.wall


class RootState:
    """The index and the pending paths of one watched root; used from one thread only."""

    def __init__(
        self,
        alias: str,
        path: Path,
        path_filter: PathFilter,
        index: FileIndex,
        *,
        debounce: float = 0.5,
        max_delay: float = 10.0,
    ) -> None:
        self.alias = alias
        self.path = path
        self.filter = path_filter
        self.index = index
        self.debounce = debounce
        self.max_delay = max_delay
        self.pending: dict[str, Pending] = {}

    def rel(self, full: str) -> str | None:
        """``full`` relative to the root ('/'-separated), None when outside it."""
        root = str(self.path)
        if full == root or not full.startswith(root + os.sep):
            return None
        return full[len(root) + 1 :].replace(os.sep, "/")

    def _entry(self, rel: str, now: float, wall: float, source: str = "watch") -> Pending:
        entry = self.pending.get(rel)
        if entry is None:
            entry = self.pending[rel] = Pending(self.index.get(rel), now, now, wall, wall, source=source)
        entry.last, entry.wall = now, wall
        return entry

    def touch(self, rel: str, kind: str, *, now: float | None = None, wall: float | None = None) -> None:
        """Note a notification for a file: ``create``, ``modify``, ``open``, ``delete`` or ``rescan``."""
        now, wall = now if now is not None else time.monotonic(), wall if wall is not None else time.time()
        entry = self._entry(rel, now, wall, source="rescan" if kind == "rescan" else "watch")
        if kind == "open":
            entry.opened = True

    def move(self, src: str | None, dest: str | None, *, now: float | None = None, wall: float | None = None) -> None:
        """Note a rename; either side may be None when it is excluded or outside the root."""
        now, wall = now if now is not None else time.monotonic(), wall if wall is not None else time.time()
        origin = None
        if src is not None:
            s = self._entry(src, now, wall)
            origin = s.moved_from if s.before is None and s.moved_from else src
        if dest is not None:
            d = self._entry(dest, now, wall)
            if origin is not None:
                d.moved_from = origin
                self._entry(origin, now, wall).moved_to = dest

    def delete_tree(self, rel_dir: str, *, now: float | None = None) -> None:
        """A folder vanished (deleted or moved away): every indexed file below it is touched."""
        for rel in self.index.under(rel_dir):
            self.touch(rel, "delete", now=now)

    def rescan(self, *, now: float | None = None) -> int:
        """Touch every path whose disk state differs from the index (after lost notifications); returns the count.

        Each is dated by the file's modification time (no later than now), the best record of when it changed;
        a vanished file has none and is dated now.
        """
        changed = self.index.spool.changed_files(self.alias, self.filter.iter_walk())
        for rel in changed:
            if rel not in self.pending:
                state = file_state(os.path.join(self.path, rel))
                wall = time.time()
                self.touch(rel, "rescan", now=now, wall=wall if state is None else min(state[0] / 1e9, wall))
        return len(changed)

    def _quiet(self, rel: str, now: float, force: bool) -> bool:
        entry = self.pending.get(rel)
        if entry is None:
            return True
        return force or now - entry.last >= self.debounce or now - entry.first >= self.max_delay

    def _ready(self, now: float, force: bool) -> Iterator[str]:
        for rel, entry in list(self.pending.items()):
            linked = (entry.moved_from, entry.moved_to)
            if self._quiet(rel, now, force) and all(self._quiet(x, now, force) for x in linked if x):
                yield rel

    def flush(self, *, now: float | None = None, force: bool = False, limit: int | None = None) -> Outcome:
        """Decide every quiet path (all of them with ``force``; at most ``limit``) and return events and index changes."""
        now = now if now is not None else time.monotonic()
        ready = sorted(self._ready(now, force), key=lambda r: self.pending[r].moved_from is None)[:limit]
        out = Outcome()
        for rel in ready:
            entry = self.pending.pop(rel, None)
            if entry is not None:
                self._decide(rel, entry, out)
        return out

    def _set(self, rel: str, state: FileState | None, out: Outcome) -> None:
        self.index.set(rel, state)
        if state is None:
            out.upserts.pop(rel, None)
            out.deletes.add(rel)
        else:
            out.deletes.discard(rel)
            out.upserts[rel] = state

    def _event(self, kind: str, rel: str, entry: Pending, out: Outcome, *, written: FileState | None = None,
               **extra: Any) -> None:  # fmt: skip
        meta = {"source": "rescan"} if entry.source == "rescan" else None
        wall, since = event_time(entry, written)
        out.events.append({"kind": kind, "path": rel, "wall": wall, "since": since, "meta": meta, **extra})

    def _decide(self, rel: str, entry: Pending, out: Outcome) -> None:
        now_state = file_state(os.path.join(self.path, rel))
        origin = entry.moved_from
        if origin is not None and now_state is not None:
            before = self.index.get(origin)
            if before is not None and before[2] == now_state[2] and file_state(os.path.join(self.path, origin)) is None:
                self.pending.pop(origin, None)  # its disappearance is this move
                self._set(origin, None, out)
                self._set(rel, now_state, out)
                self._event("move", origin, entry, out, dest_path=rel)
                return
        before = entry.before
        kind = None
        if before is None and now_state is not None:
            kind = "create"
        elif before is not None and now_state is None:
            kind = "delete"
        elif before is not None and now_state is not None:
            # a write notification whose result was already reported (same mtime, size, inode) is no new modify
            if now_state != before:
                kind = "modify"
            elif entry.opened:
                kind = "open"
        self._set(rel, now_state, out)
        if kind is not None:
            self._event(kind, rel, entry, out, written=now_state if kind in ("create", "modify") else None)
