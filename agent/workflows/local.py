"""A synced workflow as the person sees it on this machine (``LocalWorkflow``), and the rows of the store it is
read from and written to."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import ValidationError

from floyo.workflow_definition import definition_hash, validate_definition


@dataclass(frozen=True)
class LocalWorkflow:
    """One synced workflow as the person sees it here: its state and why."""

    id: int
    version: int
    name: str
    definition: dict[str, Any]
    hash: str | None
    state: str  # pending | approved | disabled | rejected
    reason: str | None  # why disabled, or why pending again
    server_enabled: bool
    approved_version: int | None
    argv: dict[int, list[str]]


def argv_of_blob(blob: bytes) -> dict[int, list[str]]:
    """The approved argv per action index, as stored."""
    return {int(k): [str(a) for a in v] for k, v in orjson.loads(blob).items()}


def synced_row(workflow: dict[str, Any], now: float) -> tuple[Any, ...]:
    """One row of ``workflows`` from the server's answer; a definition this agent refuses is kept, marked invalid."""
    definition = workflow.get("definition") or {}
    try:
        canonical, hash_, invalid = validate_definition(definition), definition_hash(definition), None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(map(str, first["loc"])) or "definition"
        canonical, hash_ = definition, None
        invalid = f"refused by the agent: {where}: {first['msg'].removeprefix('Value error, ')}"
    enabled = bool(workflow.get("enabled", True)) and bool(canonical.get("enabled", True))
    name = str(workflow.get("name") or canonical.get("name") or "")
    return (int(workflow["id"]), int(workflow["version"]), int(enabled), name, orjson.dumps(canonical), hash_,
            invalid, now)  # fmt: skip


def local_workflow(row: tuple[Any, ...]) -> LocalWorkflow:
    wid, version, name, definition, hash_, enabled, invalid, a_hash, a_version, a_argv, r_hash, d_reason = row
    approved = a_hash is not None and a_hash == hash_
    state, reason = "pending", None
    if r_hash is not None and r_hash == (hash_ or ""):
        state = "rejected"
    elif invalid is not None:
        state, reason = "disabled", str(invalid)
    elif d_reason is not None:
        state, reason = "disabled", f"disabled on this machine: {d_reason}"
    elif not enabled:
        state, reason = "disabled", "disabled on the server" + ("" if approved else " (and not approved here)")
    elif approved:
        state = "approved"
    elif a_hash is not None:
        reason = f"changed since you approved version {a_version}: approve it again to run it"
    return LocalWorkflow(
        int(wid), int(version), str(name), orjson.loads(definition), hash_, state, reason, bool(enabled),
        int(a_version) if approved else None, argv_of_blob(a_argv) if approved and a_argv else {},
    )  # fmt: skip
