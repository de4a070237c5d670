"""A finished run as the ``run`` event the server stores: like a command from the shell hook (root, folder, program
name, exit code, duration), plus ``meta.workflow_id``/``workflow_version``/``outcome``/``run_id``.

Its ``event_id`` derives from the run id (``RunRecord.event_id``), so reporting a run twice (a crash between the
spool and the store, a restart) is a duplicate the server stores once.
"""

from __future__ import annotations

import posixpath
from typing import Any

from agent.config import AgentConfig
from agent.spool import Spool
from agent.wire import WireMaker
from agent.workflows.model import RunRecord
from agent.workflows.triggers import file_values, render

MAX_ERROR_CHARS = 200
FALLBACK_ROOT = "workflow"  # a run with no root to name (a schedule, no file trigger, no root configured)


def run_event(
    run: RunRecord, definition: dict[str, Any] | None, config: AgentConfig, wire: WireMaker
) -> dict[str, Any]:
    """The telemetry event reporting ``run`` (privacy applied to its folder as to every path)."""
    root, folder = where(run, definition or {}, config)
    meta: dict[str, Any] = {
        "workflow_id": run.workflow_id,
        "workflow_version": run.version,
        "outcome": run.outcome or "interrupted",
        "run_id": run.run_id,
    }
    if run.error:
        meta["error"] = run.error[:MAX_ERROR_CHARS]
    decided = {"kind": "run", "path": folder, "wall": run.started_at, "tool": run.tool or _tool(definition),
               "exit_code": run.exit_code, "duration_ms": run.duration_ms, "meta": meta}  # fmt: skip
    event = wire.make(root, decided)
    event["event_id"] = run.event_id()
    event["ext"] = ""
    return event


def where(run: RunRecord, definition: dict[str, Any], config: AgentConfig) -> tuple[str, str]:
    """(root alias, folder relative to it) the run worked in: the engine's word when it gave one, else the trigger's
    root and the first ``run`` action's ``cwd`` (its placeholders filled as the engine fills them)."""
    root = run.root or run.trigger.get("root") or _first_file_root(definition) or next(iter(config.roots), None)
    if run.cwd is not None:
        folder = run.cwd
    else:
        cwd = next((a.get("cwd", ".") for a in definition.get("actions", []) if a.get("type") == "run"), ".")
        folder = render(cwd, file_values(run.trigger.get("path")))
    folder = posixpath.normpath(folder) if folder else ""
    return str(root or FALLBACK_ROOT), "" if folder == "." else folder


def _first_file_root(definition: dict[str, Any]) -> str | None:
    return next((t.get("root") for t in definition.get("triggers", []) if t.get("type") == "file"), None)


def _tool(definition: dict[str, Any] | None) -> str:
    """The program of the first ``run`` action (name only, never arguments), else ``floyo-<action>``."""
    actions = (definition or {}).get("actions") or [{}]
    for action in actions:
        if action.get("type") == "run" and action.get("command"):
            return posixpath.basename(str(action["command"][0])) or "floyo-run"
    return f"floyo-{actions[0].get('type', 'workflow')}"


class Reporter:
    """Queues ``run`` events into the agent's spool (the sender delivers them)."""

    def __init__(self, config: AgentConfig) -> None:
        self.config = config
        self.wire = WireMaker(config.key() if config.privacy else None)
        self.spool = Spool(config.spool_path, max_events=config.max_spool_events, fsync=config.fsync)

    def report(self, runs: list[RunRecord], definitions: dict[int, dict[str, Any]]) -> int:
        """Append the events of ``runs``; returns how many the spool kept."""
        events = [run_event(r, definitions.get(r.workflow_id), self.config, self.wire) for r in runs]
        return self.spool.append(events)
