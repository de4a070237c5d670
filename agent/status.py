"""``floyo agent status``: what the running agent last reported, or what its spool holds when it is stopped."""

from __future__ import annotations

import os
import time
from typing import Any

import orjson

from agent.config import AgentConfig
from agent.spool import Spool


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_status(config: AgentConfig) -> dict[str, Any]:
    """The status document: the agent's own file when it runs, the spool's counters always."""
    doc: dict[str, Any] = {}
    if config.status_path.exists():
        doc = orjson.loads(config.status_path.read_bytes())
    doc["running"] = _alive(doc.get("pid")) and time.time() - doc.get("updated_at", 0) < 30
    doc["paused"] = config.pause_path.exists()
    doc.setdefault("roots", {alias: str(path) for alias, path in config.roots.items()})
    if config.spool_path.exists():
        spool = Spool(config.spool_path)
        stats = spool.stats()
        spool.close()
        doc["queued"] = stats.queued
        doc["counters"] = {k: v for k, v in stats.counters.items() if ":" not in k}
    doc["state_dir"] = str(config.state_dir)
    return doc


def _ago(when: float | None) -> str:
    return "never" if not when else f"{time.time() - when:.0f} s ago"


def describe(doc: dict[str, Any], *, as_json: bool = False) -> str:
    """Human lines (or JSON) for the status document."""
    if as_json:
        return orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode()
    counters = doc.get("counters", {})
    state = "running" if doc["running"] else "not running"
    lines = [
        f"agent:     {state}{' (pid ' + str(doc['pid']) + ')' if doc['running'] else ''}"
        f"{', PAUSED' if doc['paused'] else ''}",
        f"server:    {doc.get('server') or '-'}",
        "roots:     " + (", ".join(f"{a}={p}" for a, p in doc.get("roots", {}).items()) or "-"),
        f"events:    captured {counters.get('captured', 0)}, queued {doc.get('queued', 0)}, "
        f"sent {counters.get('sent', 0)}, duplicate {counters.get('duplicate', 0)}, "
        f"rejected {counters.get('rejected', 0)}, dropped (spool full) {counters.get('dropped_over_cap', 0)}",
        "lag:       " + ("-" if doc.get("lag_seconds") is None else f"{doc['lag_seconds']:.1f} s"),
        f"last sent: {_ago(doc.get('last_success_at'))}",
        f"last error: {doc.get('last_error') or 'none'}"
        + (f" ({_ago(doc.get('last_error_at'))})" if doc.get("last_error") else ""),
    ]
    if doc.get("overflows") or doc.get("polled_roots"):
        lines.append(
            f"warnings:  {doc.get('overflows', 0)} inotify overflows (rescanned); "
            f"polled roots (watch limit): {', '.join(doc.get('polled_roots', [])) or 'none'}"
        )
    workflows = doc.get("workflows") if doc["running"] else None
    if workflows:
        synced = workflows.get("sync_error") or f"synced {_ago(workflows.get('synced_at'))}"
        lines.append(
            f"workflows: {workflows.get('runnable', 0)} runnable, {workflows.get('running', 0)} running, "
            f"{workflows.get('fired', 0)} started since the agent started; {synced} (`floyo agent workflows`)"
        )
    lines.append(f"state:     {doc['state_dir']}")
    return "\n".join(lines)
