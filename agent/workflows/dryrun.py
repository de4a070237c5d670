"""`floyo agent dry-run`: what a workflow would have done over the last days of this machine's recorded activity,
without doing anything. File triggers are replayed on the local activity log with the engine's own matching
(globs, kinds, debounce, a workflow's ``writes`` never triggering it, time windows); schedules are the minutes
their cron expression names."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from agent.workflows.activity import Activity
from agent.workflows.engine import uses_file
from agent.workflows.local import LocalWorkflow
from agent.workflows.present import action_words, first_root, would_run
from agent.workflows.triggers import Cron, conditions_hold, file_values, matches, render
from floyo.workflow_definition import FileTrigger, RunAction, ScheduleTrigger, WorkflowDefinition

MAX_SCHEDULED = 10_000  # a dry run of "* * * * *" over days stops counting here


@dataclass(frozen=True)
class WouldRun:
    """One run the workflow would have made: when, why, and its actions as they would have been done."""

    at: float
    trigger: str
    actions: list[str]

    def doc(self) -> dict[str, Any]:
        when = datetime.fromtimestamp(self.at).astimezone().isoformat(timespec="seconds")
        return {"at": when, "trigger": self.trigger, "actions": self.actions}


def _rendered(workflow: LocalWorkflow, rel: str | None) -> list[str]:
    values = file_values(rel)
    root = first_root(workflow.definition)
    actions = []
    for action in would_run(workflow):
        filled = {k: render(v, values) if isinstance(v, str) else v for k, v in action.items()}
        if "argv" in filled:
            filled["argv"] = [render(a, values) for a in filled["argv"]]
            filled["cwd"] = render(filled.get("cwd", "."), values)
        actions.append(action_words(filled, root))
    return actions


def _file_fires(definition: WorkflowDefinition, activity: list[Activity]) -> list[tuple[float, str, str]]:
    """(when, what happened, path) of each debounced file trigger."""
    writes = [g for a in definition.actions if isinstance(a, RunAction) for g in a.writes]
    per_file = uses_file(definition)
    fires: list[tuple[float, str, str]] = []
    for trigger in (t for t in definition.triggers if isinstance(t, FileTrigger)):
        debounce = trigger.debounce_ms / 1000
        last: dict[str | None, int] = {}  # debounce key -> index in fires of the run it would extend
        for event in activity:
            rel = event.dest_path or event.path
            if event.root != trigger.root or event.kind not in trigger.events or not matches(trigger.paths, rel):
                continue
            if writes and (matches(writes, event.path) or matches(writes, rel)):
                continue  # the workflow's own output never triggers it
            key = rel if per_file else None
            fire = (event.ts + debounce, f"{event.kind} {trigger.root}:{rel}", rel)
            i = last.get(key)
            if i is not None and event.ts <= fires[i][0]:  # within the debounce of the one before: one run, later
                fires[i] = fire
            else:
                last[key] = len(fires)
                fires.append(fire)
    return fires


def _scheduled(definition: WorkflowDefinition, since: float, until: float) -> list[tuple[float, str, str | None]]:
    crons = [(Cron.parse(t), t.cron) for t in definition.triggers if isinstance(t, ScheduleTrigger)]
    if not crons:
        return []
    fires: list[tuple[float, str, str | None]] = []
    minute = datetime.fromtimestamp(since).astimezone().replace(second=0, microsecond=0) + timedelta(minutes=1)
    end = datetime.fromtimestamp(until).astimezone()
    while minute <= end and len(fires) < MAX_SCHEDULED:
        fires += [(minute.timestamp(), f"schedule {text}", None) for cron, text in crons if cron.due(minute)]
        minute += timedelta(minutes=1)
    return fires


def dry_run(workflow: LocalWorkflow, activity: list[Activity], *, since: float, until: float) -> list[WouldRun]:
    """What ``workflow`` would have run between ``since`` and ``until`` given ``activity``, oldest first."""
    definition = WorkflowDefinition.model_validate(workflow.definition)
    fires: list[tuple[float, str, str | None]] = [*_file_fires(definition, activity)]
    fires += _scheduled(definition, since, until)
    out = []
    for at, why, rel in sorted(fires, key=lambda f: f[0]):
        if conditions_hold(definition.conditions, datetime.fromtimestamp(at).astimezone()):
            out.append(WouldRun(at, why, _rendered(workflow, rel)))
    return out
