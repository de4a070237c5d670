"""What the workflow commands show: a workflow's state, trigger and exactly what it would run; a run's outcome."""

from __future__ import annotations

import posixpath
import shlex
from datetime import datetime
from typing import Any

from agent.workflows.local import LocalWorkflow
from agent.workflows.model import RunRecord


def _local_time(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts).astimezone().isoformat(timespec="seconds")


def would_run(workflow: LocalWorkflow) -> list[dict[str, Any]]:
    """Each action as it would be done: a ``run`` with the argv approved here (or the definition's own)."""
    actions: list[dict[str, Any]] = []
    for index, action in enumerate(workflow.definition.get("actions", [])):
        shown = dict(action)
        if action.get("type") == "run":
            shown["argv"] = workflow.argv.get(index, action["command"])
        actions.append(shown)
    return actions


def trigger_words(trigger: dict[str, Any]) -> str:
    """A trigger in one line: ``file modify,create code:src/**/*.py (debounce 2000 ms)`` or ``schedule 0 7 * * 1``."""
    if trigger.get("type") == "schedule":
        return f"schedule {trigger['cron']} (local time)"
    globs = " ".join(f"{trigger['root']}:{p}" for p in trigger["paths"])
    return f"file {','.join(trigger['events'])} {globs} (debounce {trigger['debounce_ms']} ms)"


def action_words(action: dict[str, Any], root: str | None) -> str:
    """An action in one line, a ``run`` with its exact argv (quoted as a shell would need it) and folder."""
    kind = action.get("type")
    if kind == "run":
        where = posixpath.join(root or "?", action.get("cwd", "."))
        return f"run `{shlex.join(action['argv'])}` in {where} (time limit {action['timeout_s']} s)"
    if kind in ("move", "copy"):
        return f"{kind} the file to {root or '?'}:{action['dest']}"
    if kind == "notify":
        return f"notify: {action['message']}"
    if kind == "webhook":
        secret = f", signed with the local secret {action['secret']!r}" if action.get("secret") else ""
        return f"webhook POST {action['url']}{secret}"
    return str(kind)


def first_root(definition: dict[str, Any]) -> str | None:
    """The root of the first file trigger (the root ``run``/``move``/``copy`` work under), if any."""
    return next((t["root"] for t in definition.get("triggers", []) if t.get("type") == "file"), None)


def workflow_doc(workflow: LocalWorkflow) -> dict[str, Any]:
    """One workflow for ``--json``."""
    return {
        "id": workflow.id,
        "version": workflow.version,
        "name": workflow.name,
        "state": workflow.state,
        "reason": workflow.reason,
        "approved_version": workflow.approved_version,
        "server_enabled": workflow.server_enabled,
        "definition_hash": workflow.hash,
        "mode": workflow.definition.get("mode"),
        "triggers": workflow.definition.get("triggers", []),
        "conditions": workflow.definition.get("conditions", []),
        "actions": would_run(workflow),
    }


def workflow_lines(workflow: LocalWorkflow) -> list[str]:
    """One workflow for people: id, version, state, name, then its triggers and actions."""
    head = f"{workflow.id:>4}  v{workflow.version:<3} {workflow.state:<9} {workflow.name}"
    lines = [head] + ([f"      ({workflow.reason})"] if workflow.reason else [])
    root = first_root(workflow.definition)
    lines += [f"      when: {trigger_words(t)}" for t in workflow.definition.get("triggers", [])]
    lines += [f"      does: {action_words(a, root)}" for a in would_run(workflow)]
    return lines


def run_doc(run: RunRecord, reported: bool) -> dict[str, Any]:
    """One run for ``--json``."""
    return {
        "run_id": run.run_id,
        "workflow_id": run.workflow_id,
        "version": run.version,
        "started_at": _local_time(run.started_at),
        "ended_at": _local_time(run.ended_at),
        "duration_ms": run.duration_ms,
        "outcome": run.outcome or "running",
        "exit_code": run.exit_code,
        "error": run.error,
        "trigger": run.trigger,
        "output_tail": run.output_tail,
        "reported": reported,
    }


def run_line(run: RunRecord, reported: bool) -> str:
    """One run in one line."""
    took = "" if run.duration_ms is None else f" {run.duration_ms / 1000:.1f} s"
    code = "" if run.exit_code is None else f" exit {run.exit_code}"
    why = f" ({run.error})" if run.error else ""
    sent = "" if reported or run.outcome is None else " [not reported yet]"
    started = _local_time(run.started_at)
    return f"{started}  #{run.workflow_id} v{run.version}  {run.outcome or 'running'}{code}{took}{why}{sent}"
