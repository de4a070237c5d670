"""The types the workflow runtime's parts share: what may run (``Approved``), one run (``RunRecord``), and the two
sides the engine talks to (``WorkflowSource`` for what is approved, ``RunSink`` for what happened)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from floyo.workflow_definition import WorkflowDefinition

# ok: exit 0 (or a move/copy/notify/webhook that worked); failed: non-zero exit or an action error; timeout: killed
# at timeout_s; cancelled: a ``restart`` run replaced it, or pause / disable / stop ended it; interrupted: the agent
# died during the run (found at the next start); skipped: refused before starting (limit per hour, queue full)
Outcome = Literal["ok", "failed", "timeout", "cancelled", "interrupted", "skipped"]
RUN_NAMESPACE = uuid.UUID("6f6c7966-6f2d-7275-6e73-000000000000")


@dataclass(frozen=True)
class Approved:
    """A workflow the person approved, at the version (and definition hash) they approved."""

    workflow_id: int
    version: int
    definition: WorkflowDefinition
    definition_hash: str
    # per action index, the argv the person approved for a suggested ``run`` (``args_from_history``); else the
    # definition's own command
    argv: dict[int, list[str]] = field(default_factory=dict)


@dataclass
class RunRecord:
    """One run of one workflow, from the trigger to the outcome."""

    run_id: str  # uuid4 hex, made when the trigger fires; the reported event's id derives from it
    workflow_id: int
    version: int
    trigger: dict[str, Any]  # {"type": "file", "root", "path", "event"} or {"type": "schedule", "cron", "at"}
    started_at: float  # wall clock, seconds since the epoch
    ended_at: float | None = None
    exit_code: int | None = None
    outcome: Outcome | None = None  # None while running
    output_tail: str = ""  # the last bytes of stdout+stderr (capped), decoded with replacement
    tool: str | None = None  # the program of the first run action (the event's ``tool``)
    error: str | None = None  # why it failed, in words
    # where it ran, for the reported event (like the shell hook's): the root alias and the folder relative to it;
    # None: derived from the trigger and the definition
    root: str | None = None
    cwd: str | None = None

    @property
    def duration_ms(self) -> int | None:
        return None if self.ended_at is None else max(0, round((self.ended_at - self.started_at) * 1000))

    def event_id(self) -> str:
        """The id of the ``run`` event reporting this run: the same whenever it is reported (no duplicates)."""
        return str(uuid.uuid5(RUN_NAMESPACE, self.run_id))


class WorkflowSource(Protocol):
    """What may run now: approved at the current definition's hash, enabled by the server and not disabled here."""

    def runnable(self) -> list[Approved]: ...

    def generation(self) -> int:
        """A number that changes whenever ``runnable()`` may have changed (sync, approval, pause, disable)."""
        ...

    def paused(self) -> bool:
        """The kill switch: nothing starts, and running processes are stopped."""
        ...


class RunSink(Protocol):
    """Where the engine records runs (durably, before and after) and says it disabled a workflow."""

    def started(self, run: RunRecord) -> None: ...

    def finished(self, run: RunRecord) -> None: ...

    def disable(self, workflow_id: int, reason: str) -> None: ...
