"""The workflow engine: approved workflows, triggered by the watcher's coalesced file events and by schedules, run
in their mode (single, queued, restart, parallel) within their limits, never triggered by their own writes.

The watcher thread calls ``on_file_events`` (cheap: matching and a debounce deadline); ``run`` is the engine's
thread (deadlines, schedules, reloading what is runnable); each run has a thread of its own.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from agent.config import AgentConfig
from agent.spool import FileState
from agent.workflows import actions
from agent.workflows.model import Approved, Outcome, RunRecord, RunSink, WorkflowSource
from agent.workflows.ownwrites import OwnWrites, Window
from agent.workflows.triggers import Cron, any_glob, conditions_hold, file_values, matches, render
from floyo.workflow_definition import (
    CopyAction,
    FileTrigger,
    MoveAction,
    NotifyAction,
    RunAction,
    ScheduleTrigger,
    WebhookAction,
    WorkflowDefinition,
    definition_hash,
    validate_definition,
)

log = logging.getLogger(__name__)

FILE_KINDS = frozenset({"create", "modify", "delete", "move"})
HOUR = 3600.0


@dataclass(frozen=True)
class Fire:
    """A trigger that fired: on a file (root alias, path, event kind) or on a schedule."""

    alias: str
    rel: str | None
    event: str | None
    trigger: dict[str, Any]


@dataclass
class Loaded:
    """An approved workflow, checked again here and ready to match."""

    approved: Approved
    definition: WorkflowDefinition
    alias: str  # the root its actions work in: its first file trigger's, else the agent's first root
    per_file: bool  # debounced per file (its actions use the file) or per workflow (one run per burst)
    crons: list[tuple[Cron, str]]
    writes: tuple[str, ...]
    tool: str | None

    @property
    def id(self) -> int:
        return self.approved.workflow_id

    def argv(self, index: int, action: RunAction) -> list[str]:
        return self.approved.argv.get(index, action.command)


@dataclass
class Active:
    """A run under way."""

    run: RunRecord
    window: Window  # where and when its writes are its own
    cancel: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None

    @property
    def ended(self) -> float | None:
        return self.window.ended


@dataclass
class WorkflowState:
    """Per workflow: its runs, what waits, its starts in the last hour, its failures in a row."""

    active: list[Active] = field(default_factory=list)
    waiting: deque[Fire] = field(default_factory=deque)
    starts: deque[float] = field(default_factory=deque)
    failures: int = 0
    cap_noted: float = -HOUR


def uses_file(definition: WorkflowDefinition) -> bool:
    """Whether the actions use the file that triggered (a move, a copy, a ``{trigger.…}`` placeholder)."""
    texts: list[str] = []
    for action in definition.actions:
        if isinstance(action, MoveAction | CopyAction):
            return True
        if isinstance(action, RunAction):
            texts += [*action.command, action.cwd]
        elif isinstance(action, NotifyAction):
            texts.append(action.message)
        elif isinstance(action, WebhookAction):
            texts.append(action.url)
    return any("{trigger." in t for t in texts)


_uses_file = uses_file  # the name `floyo agent dry-run` imports


class Engine:
    """Runs what ``source`` says is runnable, records every run in ``sink``."""

    def __init__(self, source: WorkflowSource, sink: RunSink, config: AgentConfig) -> None:
        self.source = source
        self.sink = sink
        self.config = config
        self.roots = {alias: path.resolve() for alias, path in config.roots.items()}
        self._cond = threading.Condition()
        self.workflows: dict[int, Loaded] = {}
        # per root: one expression of every trigger's globs (most events match none), then the triggers
        self._by_root: dict[str, tuple[re.Pattern[str], list[tuple[Loaded, int, FileTrigger]]]] = {}
        self._states: dict[int, WorkflowState] = {}
        self._pending: dict[tuple[int, int, str | None], tuple[float, Fire]] = {}
        self.own = OwnWrites(self.roots)
        self._generation: int | None = None
        self._refused: set[tuple[int, str]] = set()
        self.paused = False
        self._minute = self._now().replace(second=0, microsecond=0)  # schedules are not caught up at start
        self.fired = 0  # triggers that started a run (for the status and tests)

    # -- what may run ---------------------------------------------------------------------------------------------

    @staticmethod
    def _now() -> datetime:
        return datetime.now().astimezone()

    def _refuse(self, approved: Approved, why: str) -> None:
        key = (approved.workflow_id, approved.definition_hash)
        if key not in self._refused:  # once per definition, not once per reload
            self._refused.add(key)
            log.error("workflow %d (version %d) is not run: %s", approved.workflow_id, approved.version, why)

    def load(self, approved: Approved) -> Loaded | None:
        """The workflow checked again on this machine (a definition is validated again, its hash must be the one
        approved, its roots watched here, an approved argv no shell string), or None with the reason logged."""
        try:
            data = approved.definition.model_dump(mode="json", warnings=False)
            clean = validate_definition(data)
            definition = WorkflowDefinition.model_validate(clean)
        except (ValidationError, ValueError, TypeError, AttributeError) as exc:
            self._refuse(approved, f"its definition is refused: {str(exc)[:500]}")
            return None
        if definition_hash(clean) != approved.definition_hash:
            self._refuse(approved, "its definition is not the one approved (hash differs)")
            return None
        if not definition.enabled:
            return None
        for index, argv in approved.argv.items():
            action = definition.actions[index] if 0 <= index < len(definition.actions) else None
            if not isinstance(action, RunAction):
                self._refuse(approved, f"an approved command is for action {index}, which is not a run action")
                return None
            try:
                RunAction.model_validate({**action.model_dump(), "command": argv})
            except ValidationError as exc:
                self._refuse(approved, f"the approved command of action {index} is refused: {str(exc)[:300]}")
                return None
        file_roots = [t.root for t in definition.triggers if isinstance(t, FileTrigger)]
        missing = sorted(set(file_roots) - set(self.roots))
        if missing or not self.roots:
            self._refuse(approved, f"root(s) {missing or ['(none)']} are not watched by this agent")
            return None
        runs = [(i, a) for i, a in enumerate(definition.actions) if isinstance(a, RunAction)]
        try:
            crons = [(Cron.parse(t), t.cron) for t in definition.triggers if isinstance(t, ScheduleTrigger)]
        except ValueError as exc:  # a step of 0 ("*/0") passes the definition's check
            self._refuse(approved, f"its schedule cannot be read: {exc}")
            return None
        return Loaded(
            approved, definition, file_roots[0] if file_roots else next(iter(self.roots)), uses_file(definition),
            crons,
            tuple(g for _, a in runs for g in a.writes),
            Path(approved.argv.get(runs[0][0], runs[0][1].command)[0]).name if runs else None,
        )  # fmt: skip

    def refresh(self) -> None:
        """Follow the source: the kill switch, and what is runnable whenever its generation changed."""
        paused = self.source.paused()
        if paused != self.paused:
            with self._cond:
                self.paused = paused
                if paused:
                    log.warning("workflows paused: running ones are stopped, nothing starts until resumed")
                    self._pending.clear()
                    for wid in list(self._states):
                        self._stop_workflow(wid)
                else:
                    log.info("workflows resumed")
        generation = self.source.generation()
        if generation == self._generation:
            return
        loaded = {w.id: w for a in self.source.runnable() if (w := self.load(a)) is not None}
        with self._cond:
            self._generation = generation
            for wid, old in self.workflows.items():
                new = loaded.get(wid)
                if new is None or new.approved.definition_hash != old.approved.definition_hash:
                    self._stop_workflow(wid)  # disabled, gone, or changed: what it was doing stops too
            self.workflows = loaded
            self._reindex()
            log.info("%d workflow(s) runnable", len(loaded))

    def _reindex(self) -> None:
        by_root: dict[str, list[tuple[Loaded, int, FileTrigger]]] = {}
        for w in self.workflows.values():
            for i, t in enumerate(w.definition.triggers):
                if isinstance(t, FileTrigger):
                    by_root.setdefault(t.root, []).append((w, i, t))
        self._by_root = {a: (any_glob(g for _, _, t in c for g in t.paths), c) for a, c in by_root.items()}

    def _stop_workflow(self, wid: int) -> None:
        state = self._states.get(wid)
        if state is not None:
            state.waiting.clear()
            for active in state.active:
                active.cancel.set()
        for key in [k for k in self._pending if k[0] == wid]:
            del self._pending[key]

    # -- file events ----------------------------------------------------------------------------------------------

    def own_write(self, alias: str, event: dict[str, Any]) -> bool:
        """Whether an event is a workflow's own doing (``ownwrites``): it then triggers no workflow."""
        return self.own.own(alias, event, ((w.alias, w.writes) for w in self.workflows.values()))

    def owner_of(self, alias: str, event: dict[str, Any]) -> int | None:
        """The workflow that made a watcher's event (``ownwrites.OwnWrites.owner``), for its ``meta.workflow_id``."""
        with self._cond:
            return self.own.owner(alias, event) if self.own.files or self.own.windows else None

    def on_file_events(self, alias: str, events: Iterable[dict[str, Any]]) -> None:
        """The watcher's decided events of one root (relative paths, before privacy): each matching trigger's
        debounce starts again; its run starts when the debounce ends."""
        with self._cond:
            indexed = self._by_root.get(alias)
            if self.paused or indexed is None:
                return
            any_trigger, candidates = indexed
            now, woke = time.monotonic(), False
            for event in events:
                kind = event.get("kind")
                rel = event.get("dest_path") or event["path"]  # a move fires where the file arrived
                if kind not in FILE_KINDS or not any_trigger.match(rel):
                    continue
                if self.own_write(alias, event):
                    log.debug("%s %s/%s is a workflow's own write: no trigger", kind, alias, rel)
                    continue
                for w, index, trigger in candidates:
                    if kind in trigger.events and matches(trigger.paths, rel):
                        fire = Fire(alias, rel, kind, {"type": "file", "root": alias, "path": rel, "event": kind})
                        key = (w.id, index, rel if w.per_file else None)
                        self._pending[key] = (now + trigger.debounce_ms / 1000, fire)
                        woke = True
            if woke:
                self._cond.notify_all()

    # -- firing and running ---------------------------------------------------------------------------------------

    def _fire(self, w: Loaded, fire: Fire) -> None:
        if not conditions_hold(w.definition.conditions, self._now()):
            log.info("workflow %d: outside its time window, not run", w.id)
            return
        state = self._states.setdefault(w.id, WorkflowState())
        running = [a for a in state.active if a.ended is None]
        mode, limit = w.definition.mode, w.definition.max
        if running and mode == "single":
            log.info("workflow %d is running (mode single): this trigger is dropped", w.id)
        elif running and mode == "parallel" and len(running) >= limit:
            log.info("workflow %d runs %d times already (mode parallel, max %d): dropped", w.id, len(running), limit)
        elif running and mode == "queued":
            if len(state.waiting) < limit:
                state.waiting.append(fire)
            else:
                log.warning("workflow %d: %d runs wait already (mode queued, max %d): dropped", w.id, limit, limit)
        elif running and mode == "restart":
            for active in running:
                active.cancel.set()
            state.waiting = deque([fire])  # starts when the stopped run has ended
        else:
            self._start(w, state, fire)

    def _start(self, w: Loaded, state: WorkflowState, fire: Fire) -> None:
        now = time.monotonic()
        while state.starts and now - state.starts[0] >= HOUR:
            state.starts.popleft()
        run = RunRecord(uuid.uuid4().hex, w.id, w.approved.version, fire.trigger, time.time(), tool=w.tool)
        if len(state.starts) >= self.config.max_runs_per_hour:
            if now - state.cap_noted >= HOUR:  # said once an hour, not at every trigger
                state.cap_noted = now
                run.outcome, run.ended_at = "skipped", run.started_at
                run.error = f"the limit of {self.config.max_runs_per_hour} runs per hour is reached"
                log.warning("workflow %d: %s; triggers are dropped until the hour has passed", w.id, run.error)
                threading.Thread(target=self._record_skip, args=(run,), daemon=True).start()
            return
        state.starts.append(now)
        runs = [a for a in w.definition.actions if isinstance(a, RunAction)]
        cwd = render(runs[0].cwd, file_values(fire.rel)).strip("/") if runs else None
        run.root, run.cwd = fire.alias, cwd
        scope = None if cwd is None or w.writes else ("" if cwd == "." else cwd)
        active = Active(run, self.own.window(fire.alias, scope, run.started_at, w.id, w.writes))
        state.active.append(active)
        self.fired += 1
        active.thread = threading.Thread(target=self._execute, args=(w, fire, active), name=f"workflow-{w.id}",
                                         daemon=True)  # fmt: skip
        active.thread.start()

    def _record_skip(self, run: RunRecord) -> None:
        try:
            self.sink.started(run)
            self.sink.finished(run)
        except Exception:  # a record that failed must not stop the engine
            log.exception("could not record a skipped run of workflow %d", run.workflow_id)

    def _wrote(self, alias: str, rel: str, state: FileState | None, workflow_id: int | None = None) -> None:
        with self._cond:
            self.own.wrote(alias, rel, state, workflow_id)

    def _context(self, w: Loaded, fire: Fire, active: Active) -> actions.Context:
        return actions.Context(
            fire.alias, self.roots[fire.alias], fire.rel, active.run, w.definition.name, active.cancel,
            functools.partial(self._wrote, workflow_id=w.id), self.config.run_output_bytes, frozenset(self.config.run_env), dict(self.config.webhook_secrets),
            fire.event,
        )  # fmt: skip

    def _do(self, w: Loaded, index: int, ctx: actions.Context) -> actions.Result:
        action = w.definition.actions[index]
        try:
            if isinstance(action, RunAction):
                return actions.run_program(ctx, action, w.argv(index, action))
            if isinstance(action, MoveAction | CopyAction):
                return actions.move_or_copy(ctx, action)
            if isinstance(action, NotifyAction):
                return actions.notify(ctx, action)
            return actions.webhook(ctx, action)
        except actions.ActionError as exc:
            return actions.Result("failed", error=str(exc))
        except Exception as exc:  # an action's bug is the run's failure, never the engine's end
            log.exception("workflow %d: action %d failed unexpectedly", w.id, index)
            return actions.Result("failed", error=f"{type(exc).__name__}: {exc}"[:300])

    def _execute(self, w: Loaded, fire: Fire, active: Active) -> None:
        run = active.run
        try:
            self.sink.started(run)  # durable before anything runs: a crash mid-run is found at the next start
        except Exception:
            log.exception("workflow %d: the run could not be recorded, so it does not start", w.id)
            self._ended(w, active, None)
            return
        ctx = self._context(w, fire, active)
        output, result = b"", actions.Result("ok")
        for index in range(len(w.definition.actions)):
            if active.cancel.is_set():
                result = actions.Result("cancelled", error="stopped")
                break
            result = self._do(w, index, ctx)
            output = (output + result.output)[-self.config.run_output_bytes :]
            if result.outcome != "ok":
                break
        run.ended_at, run.outcome, run.exit_code = time.time(), result.outcome, result.exit_code
        run.error, run.output_tail = result.error, output.decode("utf-8", "replace")
        if result.outcome != "ok":
            log.warning("workflow %d run %s: %s (%s)", w.id, run.run_id, result.outcome, result.error)
        try:
            self.sink.finished(run)
        except Exception:
            log.exception("workflow %d: could not record the end of run %s", w.id, run.run_id)
        self._ended(w, active, result.outcome)

    def _ended(self, w: Loaded, active: Active, outcome: Outcome | None) -> None:
        disable: str | None = None
        with self._cond:
            active.window.ended = time.time()
            state = self._states[w.id]
            state.active.remove(active)
            if outcome in ("failed", "timeout"):
                state.failures += 1
                if state.failures >= self.config.max_consecutive_failures:
                    disable = f"{state.failures} runs failed in a row; the last: {active.run.error}"
                    self.workflows.pop(w.id, None)
                    self._reindex()
                    self._stop_workflow(w.id)
            elif outcome == "ok":
                state.failures = 0
            current = self.workflows.get(w.id)
            if state.waiting and current is not None and not self.paused:
                self._start(current, state, state.waiting.popleft())
            self._cond.notify_all()
        if disable is not None:
            log.error("workflow %d disabled: %s", w.id, disable)
            try:
                self.sink.disable(w.id, disable)
            except Exception:
                log.exception("could not record that workflow %d is disabled", w.id)

    # -- the engine's thread --------------------------------------------------------------------------------------

    def _schedules(self) -> None:
        minute = self._now().replace(second=0, microsecond=0)
        if minute == self._minute:
            return
        self._minute = minute
        for w in list(self.workflows.values()):
            for cron, text in w.crons:
                if cron.due(minute):
                    self._fire(w, Fire(w.alias, None, None, {"type": "schedule", "cron": text,
                                                             "at": minute.isoformat()}))  # fmt: skip

    def step(self) -> float:
        """Start what is due; returns how long the thread may sleep."""
        self.refresh()
        with self._cond:
            now = time.monotonic()
            if not self.paused:
                for key, (due, fire) in sorted(self._pending.items(), key=lambda kv: kv[1][0]):
                    if due <= now:
                        del self._pending[key]
                        w = self.workflows.get(key[0])
                        if w is not None:
                            self._fire(w, fire)
                self._schedules()
            self.own.prune()
            next_due = min((due for due, _ in self._pending.values()), default=now + 1.0)
            to_minute = 60.0 - time.time() % 60.0
            return max(0.0, min(next_due - now, to_minute + 0.01, 1.0))

    def run(self, stop: threading.Event) -> None:
        """The engine's loop until ``stop`` is set; then every run is stopped (cancelled) and waited for."""
        while not stop.is_set():
            try:
                timeout = self.step()
            except Exception:  # the source's hiccup (a locked database) must not end the engine
                log.exception("workflow engine step failed; retrying")
                timeout = 1.0
            with self._cond:
                if not stop.is_set():
                    self._cond.wait(timeout)
        self.shutdown()

    def wake(self) -> None:
        """Have the loop look again now (after ``stop`` was set, or a change of the source)."""
        with self._cond:
            self._cond.notify_all()

    def pending(self) -> int:
        """Triggers waiting for their debounce to end."""
        with self._cond:
            return len(self._pending)

    def running(self) -> int:
        """Runs under way now."""
        with self._cond:
            return sum(len(s.active) for s in self._states.values())

    def shutdown(self, timeout: float = actions.KILL_GRACE_SECONDS + 5.0) -> None:
        """Stop every run (their processes get SIGTERM, then SIGKILL) and wait for them to be recorded."""
        with self._cond:
            self._pending.clear()
            threads = []
            for state in self._states.values():
                state.waiting.clear()
                for active in state.active:
                    active.cancel.set()
                    if active.thread is not None:
                        threads.append(active.thread)
        deadline = time.monotonic() + timeout
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
