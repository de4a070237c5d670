"""``floyo patterns``: the rules and workflows found in an event log, for everyone or one user, with evidence.

Until the lake's feature tables are wired in, the input is an event log in the CSV format of
``shared/data/README.md``; a transaction is one commit (the lake will give sessions).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from floyo.errors import NotFound
from models.eventlog import read_event_log
from models.rules import RuleLimits, mine_rules
from models.workflows import WorkflowLimits, action_items, mine_workflows


def log_transactions(events: pl.DataFrame) -> pl.DataFrame:
    """``transaction_id, item`` rows: each commit's extensions (``ext:py``) and top folders (``dir:src``)."""
    ext = pl.lit("ext:") + pl.when(pl.col("ext") == "").then(pl.lit("(none)")).otherwise(pl.col("ext"))
    folder = pl.lit("dir:") + pl.col("path").str.split("/").list.first()
    has_dir = pl.col("path").str.contains("/", literal=True)
    return pl.concat(
        [
            events.select(pl.col("group").alias("transaction_id"), ext.alias("item")),
            events.filter(has_dir).select(pl.col("group").alias("transaction_id"), folder.alias("item")),
        ]
    ).unique(maintain_order=True)


def _events(path: Path, user: str | None) -> pl.DataFrame:
    events = read_event_log(path)
    if user is not None:
        events = events.filter(pl.col("user_id") == user)
        if events.is_empty():
            raise NotFound("no_such_user", f"no events of user {user!r} in {path}")
    return events


def rules_in_log(path: Path, *, user: str | None = None, limits: RuleLimits | None = None) -> list[dict[str, Any]]:
    """Association rules between the items of the log's commits (one user's, or everyone's)."""
    found = mine_rules(log_transactions(_events(path, user)), limits=limits)
    return found.rules.to_dicts()


def workflows_in_log(
    path: Path, *, user: str | None = None, limits: WorkflowLimits | None = None
) -> list[dict[str, Any]]:
    """Workflows "A, then B within N s" in the log (one user's, or everyone's per user)."""
    found = mine_workflows(action_items(_events(path, user)), limits=limits)
    return found.with_columns(pl.col("last_seen").dt.to_string("%Y-%m-%dT%H:%M:%SZ")).to_dicts()
