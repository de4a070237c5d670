"""The watching side: a watchdog observer feeding a queue, one loop that coalesces it into the spool.

Detected and followed by a rescan, never silent: an inotify queue overflow (watchdog logs it; a log filter
catches it) and an exhausted watch limit (the root is then rescanned every ``poll_interval_seconds``).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import gc
import logging
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from watchdog.events import (
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileOpenedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer

from agent.coalesce import Outcome, RootState
from agent.config import AgentConfig
from agent.filters import PathFilter
from agent.pause import PauseLog
from agent.spool import FileIndex, Spool

log = logging.getLogger(__name__)

_WATCHDOG_LOGGERS = ("watchdog.observers.inotify_c", "watchdog.observers.inotify")
FLUSH_SLICE = 2000
OVERFLOW_RESCAN_DELAYS = (1.0, 5.0)  # events a spool transaction takes at most
RawEvent = tuple[str, str, str, bool, float, float]  # type, src, dest, is_dir, monotonic, wall


class _QueueHandler(FileSystemEventHandler):
    def __init__(self, sink: queue.SimpleQueue[RawEvent]) -> None:
        self.sink = sink

    def on_any_event(self, event: FileSystemEvent) -> None:
        src, dest = os.fsdecode(event.src_path), os.fsdecode(event.dest_path)
        self.sink.put((event.event_type, src, dest, event.is_directory, time.monotonic(), time.time()))


class _OverflowFilter(logging.Filter):
    """watchdog only logs a queue overflow: turn that line into a flag the loop acts on."""

    def __init__(self, flag: threading.Event) -> None:
        super().__init__()
        self.flag = flag

    def filter(self, record: logging.LogRecord) -> bool:
        if "overflow" in record.getMessage().lower():
            self.flag.set()
        return True


def release_memory() -> None:
    """Hand memory freed after a walk back to the OS (glibc keeps it otherwise); a no-op elsewhere."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def count_inotify_watches() -> int:
    """Watches held by this process's inotify instances (from /proc/self/fdinfo)."""
    total = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}") != "anon_inode:inotify":
                continue
            with open(f"/proc/self/fdinfo/{fd}") as info:
                total += sum(1 for line in info if line.startswith("inotify wd:"))
        except OSError:
            continue
    return total


def count_dirs(root: Path) -> int:
    """Folders under ``root`` (itself included), which a recursive inotify watch needs one watch each for."""
    return sum(1 for _ in os.walk(root))


@dataclass
class Counters:
    """What the loop has done, for the status."""

    raw: int = 0
    overflows: int = 0
    rescans: int = 0
    watch_limit_roots: int = 0


class Watcher:
    """Owns the observer, the roots' states and the loop; ``run`` blocks until ``stop`` is set."""

    def __init__(
        self,
        config: AgentConfig,
        spool: Spool,
        *,
        wake: threading.Event | None = None,
        on_events: Callable[[str, list[dict[str, Any]]], None] | None = None,
        owner_of: Callable[[str, dict[str, Any]], int | None] | None = None,
    ) -> None:
        from agent.wire import WireMaker

        self.config = config
        self.spool = spool
        self.wake = wake or threading.Event()
        self.stop = threading.Event()
        self.ready = threading.Event()
        self.overflow = threading.Event()
        self.queue: queue.SimpleQueue[RawEvent] = queue.SimpleQueue()
        self.counters = Counters()
        self.spool_error: str | None = None  # why the spool cannot be written now, None when it can
        # what a flush decided and could not spool yet: (alias, wire events, outcome, the events as decided)
        self._held: tuple[str, list[dict[str, Any]], Outcome, list[dict[str, Any]]] | None = None
        # the workflow engine: it gets the events that were recorded (after the spool took them), as decided
        # (paths relative to the root, before privacy), never the ones dropped for a pause
        self.on_events = on_events
        # which workflow made an event (its own write), tagged ``meta.workflow_id``: not the person's manual work
        self.owner_of = owner_of
        self.pauses = PauseLog(config.state_dir)
        self.paused = self.pauses.paused_now()
        self._switch_seen = self.pauses.last_switch()
        self.polled: set[str] = set()
        own = (config.state_dir, *([config.config_file] if config.config_file else []))
        self.roots = {
            alias: RootState(
                alias,
                path,
                PathFilter(path, user_globs=config.exclude, own_dirs=own),
                FileIndex(spool, alias),
                debounce=config.debounce_seconds,
                max_delay=config.max_delay_seconds,
            )
            for alias, path in config.roots.items()
        }
        self.wire = WireMaker(config.key() if config.privacy else None)
        self._observer: Any = None
        self._overflow_filter = _OverflowFilter(self.overflow)
        self._rescans_due: list[float] = []

    def _event_filter(self) -> list[type[FileSystemEvent]]:
        kinds: list[type[FileSystemEvent]] = [
            FileCreatedEvent, DirCreatedEvent, FileModifiedEvent, FileClosedEvent,
            FileMovedEvent, DirMovedEvent, FileDeletedEvent, DirDeletedEvent,
        ]  # fmt: skip
        return [*kinds, FileOpenedEvent] if self.config.capture_opens else kinds

    def start_observer(self) -> None:
        """Watch every root; a root that hits the inotify watch limit is polled by rescans instead."""
        for name in _WATCHDOG_LOGGERS:
            logging.getLogger(name).addFilter(self._overflow_filter)
        self._observer = Observer()
        # Started before any root is scheduled, so each root's inotify watches are added inside its own
        # ``schedule`` call and a full watch table fails that root alone (watchdog 7 adds the watches of roots
        # scheduled before ``start`` inside ``start``, where the error no longer says which root failed).
        self._observer.start()
        handler = _QueueHandler(self.queue)
        for alias, state in self.roots.items():
            try:
                self._observer.schedule(handler, str(state.path), recursive=True, event_filter=self._event_filter())
            except OSError as exc:
                if exc.errno not in (errno.ENOSPC, errno.EMFILE):
                    raise
                self._watch_limit(alias, str(exc))
        if self.polled != set(self.roots):
            watches, dirs = count_inotify_watches(), sum(count_dirs(s.path) for s in self.roots.values())
            if watches < dirs:
                for alias in set(self.roots) - self.polled:
                    self._watch_limit(alias, f"only {watches} of {dirs} folders could be watched")

    def _watch_limit(self, alias: str, why: str) -> None:
        log.error(
            "inotify watch limit reached for root %r (%s): it is rescanned every %.0f s instead; "
            "raise fs.inotify.max_user_watches to watch it live",
            alias, why, self.config.poll_interval_seconds,
        )  # fmt: skip
        self.polled.add(alias)
        self.counters.watch_limit_roots = len(self.polled)

    def baseline(self) -> None:
        """Load each root's index; a root seen for the first time is indexed silently, others rescanned."""
        for alias, state in self.roots.items():
            marker = f"baseline:{alias}"
            if marker not in self.spool.stats().counters:
                self.spool.replace_files(alias, state.filter.iter_walk())
                self._forget_notified_during_walk(alias, state)
                self.spool.mark(marker)
            else:
                changed = state.rescan()
                if changed:
                    log.info("root %r: %d files changed while the agent was not running", alias, changed)
        release_memory()

    def _forget_notified_during_walk(self, alias: str, state: RootState) -> None:
        """Take the files the watch saw change while the first walk ran out of the silent index again: they
        are news, not the starting state (created while the tree was being walked), and their notifications,
        handled next, then report them. Without this they matched the index and were never sent."""
        raws: list[RawEvent] = []
        with contextlib.suppress(queue.Empty):
            while True:
                raws.append(self.queue.get_nowait())
        changed = {
            rel
            for _, src, dest, is_dir, _, _ in raws
            if not is_dir
            for full in (src, dest)
            if full and (rel := state.rel(full)) is not None
        }
        self.spool.forget_files(alias, changed)
        for raw in raws:
            self.queue.put(raw)

    def _root_of(self, full: str) -> tuple[RootState, str] | None:
        for state in self.roots.values():
            rel = state.rel(full)
            if rel is not None:
                return state, rel
        return None

    def _included(self, full: str) -> tuple[RootState, str] | None:
        found = self._root_of(full)
        if found is None or found[0].filter.excluded(found[1]):
            return None
        return found

    def handle(self, raw: RawEvent) -> None:
        """Route one watchdog notification to its root's state."""
        kind, src, dest, is_dir, now, wall = raw
        if kind == "moved":
            self._moved(src, dest, is_dir, now, wall)
            return
        found = self._root_of(src)
        if found is None:
            return
        state, rel = found
        if rel.rsplit("/", 1)[-1] == ".gitignore":
            if kind == "opened":
                return  # the agent reads .gitignore files itself: its own opens are no activity (nor a reason to reread)
            state.filter.load_gitignore(rel.rpartition("/")[0])
        if is_dir:
            if kind == "deleted":
                state.delete_tree(rel, now=now)
            return
        if state.filter.excluded(rel):
            return
        mapped = {"created": "create", "modified": "modify", "closed": "modify", "deleted": "delete", "opened": "open"}
        if kind in mapped:
            state.touch(rel, mapped[kind], now=now, wall=wall)

    def _moved(self, src: str, dest: str, is_dir: bool, now: float, wall: float) -> None:
        if is_dir:
            return  # watchdog reports a moved folder's files one by one
        a, b = self._included(src), self._included(dest)
        if a is not None and b is not None and a[0] is not b[0]:
            a[0].move(a[1], None, now=now, wall=wall)
            b[0].move(None, b[1], now=now, wall=wall)
        elif a is not None or b is not None:
            state = (a or b)[0]  # type: ignore[index]
            state.move(a[1] if a else None, b[1] if b else None, now=now, wall=wall)
        if b is not None and b[1].rsplit("/", 1)[-1] == ".gitignore":
            b[0].filter.load_gitignore(b[1].rpartition("/")[0])

    def flush(self, *, force: bool = False) -> int:
        """Move every decided event into the spool (one transaction per root); returns how many.

        When the spool cannot be written (a full disk), the slice that failed is held in memory with its event
        ids, nothing more is decided, and the next flush tries it again first: every event is spooled once.
        """
        total = 0
        try:
            if self._held is not None:
                total += self._append(*self._held)
            for alias, state in self.roots.items():
                while state.pending:
                    # in slices, so that a burst never sits in memory several times over
                    out = state.flush(force=force, limit=FLUSH_SLICE)
                    if not (out.events or out.upserts or out.deletes):
                        break
                    # judged by when each happened, not by the mode now: a file written just after `resume` counts
                    kept = [e for e in out.events if not self.pauses.paused_at(e["since"])]
                    if self.owner_of is not None:
                        self._tag_owners(alias, kept)
                    events = [self.wire.make(alias, e) for e in kept]
                    self._held = (alias, events, out, kept)
                    total += self._append(alias, events, out, kept)
        except sqlite3.OperationalError as exc:
            self._spool_failed(exc)
        if total > FLUSH_SLICE:
            release_memory()
        return total

    def _tag_owners(self, alias: str, events: list[dict[str, Any]]) -> None:
        assert self.owner_of is not None
        for event in events:
            try:
                workflow_id = self.owner_of(alias, event)
            except Exception:  # the workflows' trouble must never stop recording
                log.exception("could not tell whether %s/%s was a workflow's write", alias, event.get("path"))
                return
            if workflow_id is not None:
                event["meta"] = {**(event.get("meta") or {}), "workflow_id": workflow_id}

    def _append(self, alias: str, events: list[dict[str, Any]], out: Outcome, decided: list[dict[str, Any]]) -> int:
        kept = self.spool.append(events, root=alias, upserts=out.upserts.items(), deletes=out.deletes)
        self.roots[alias].index.committed()
        self._held = None
        if self.on_events is not None and decided:
            try:
                self.on_events(alias, decided)
            except Exception:  # the workflows' trouble must never stop recording
                log.exception("the workflow engine failed on %d events of root %r", len(decided), alias)
        if self.spool_error is not None:
            log.warning("the spool can be written again: %d held events spooled", len(events))
            self.spool_error = None
        self.wake.set()
        return kept

    def _spool_failed(self, exc: sqlite3.OperationalError) -> None:
        message = f"cannot write the spool {self.spool.path}: {exc}"
        if message != self.spool_error:  # once per distinct error, not once per loop turn
            held = len(self._held[1]) if self._held else 0
            log.error("%s; %d events wait in memory and are retried", message, held)
        self.spool_error = message

    def _check_pause(self) -> None:
        switched = self.pauses.last_switch()
        if switched == self._switch_seen:  # the log, not the flag: a pause and resume between two checks count
            return
        self._switch_seen = switched
        paused = self.paused = self.pauses.paused_by_log()
        log.info("recording %s", "paused" if paused else "resumed")
        if not paused:
            # what changed while paused and has not been seen yet (a notification lost, the agent stopped) is
            # found now and judged by its modification time: during the pause it is taken into the index
            # silently, after the resume it is reported
            self._rescan_all("recording resumed")

    def _rescan_all(self, why: str) -> None:
        log.info("%s: rescanning every root so that nothing is missed", why)
        self.counters.rescans += 1
        for state in self.roots.values():
            state.rescan()
        release_memory()

    def _backlog_too_old(self) -> bool:
        oldest = min((e.first for s in self.roots.values() for e in s.pending.values()), default=None)
        return oldest is not None and time.monotonic() - oldest >= self.config.max_delay_seconds

    def _after_overflow(self) -> None:
        # watchdog logs the overflow, then removes and re-adds every watch: files created during that rebuild
        # have no event at all, so the rescan waits for it (1 s), and a second one (5 s) catches a slow rebuild
        now = time.monotonic()
        if self.overflow.is_set():
            self.overflow.clear()
            self.counters.overflows += 1
            log.warning("the inotify queue overflowed, notifications were lost: rescans follow")
            self._rescans_due = [now + OVERFLOW_RESCAN_DELAYS[0], now + OVERFLOW_RESCAN_DELAYS[1]]
        if self._rescans_due and now >= self._rescans_due[0]:
            self._rescans_due.pop(0)
            self._rescan_all("after an inotify queue overflow")

    def run(self) -> None:
        """The loop: drain notifications, coalesce, flush quiet paths, rescan when events were lost."""
        self.start_observer()
        self.baseline()
        self.ready.set()
        last_poll = time.monotonic()
        while not self.stop.is_set():
            pending = any(s.pending for s in self.roots.values())
            caught_up = False
            try:
                raw = self.queue.get(timeout=self.config.debounce_seconds / 4 if pending else 1.0)
                self.handle(raw)
                self.counters.raw += 1
                for _ in range(20000):
                    self.handle(self.queue.get_nowait())
                    self.counters.raw += 1
            except queue.Empty:
                caught_up = True
            self._after_overflow()
            if self.polled and time.monotonic() - last_poll >= self.config.poll_interval_seconds:
                last_poll = time.monotonic()
                for alias in self.polled:
                    self.roots[alias].rescan()
            self._check_pause()
            if caught_up or self._backlog_too_old():
                self.flush()  # decisions wait for the backlog: a notification still queued may belong to them
        self.close()

    def shutdown(self) -> None:
        """Ask the loop to stop (from any thread or a signal handler); it spools what is pending first."""
        self.stop.set()
        self.queue.put(("wake", "", "", False, 0.0, 0.0))

    def close(self) -> None:
        """Stop the observer and spool what is still pending."""
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=10)
        for name in _WATCHDOG_LOGGERS:
            logging.getLogger(name).removeFilter(self._overflow_filter)
        while True:
            try:
                self.handle(self.queue.get_nowait())
            except queue.Empty:
                break
        self.flush(force=True)
