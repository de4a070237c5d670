"""Load a CSV event log through the same validation and storage path as the API."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine

from floyo.auth import ensure_device
from floyo.db import get_engine
from floyo.settings import Settings, get_settings
from ingest.csvlog import LogRow, read_log
from ingest.service import ingest_events

MAX_REASONS_SHOWN = 5


@dataclass
class LoadSummary:
    """What loading a log did."""

    path: Path
    users: int = 0
    read: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    reasons: list[str] = field(default_factory=list)

    def describe(self) -> str:
        lines = [
            f"{self.path}: {self.read} rows from {self.users} users: {self.accepted} accepted, "
            f"{self.duplicates} duplicate, {self.rejected} rejected"
        ]
        lines += [f"  rejected: {reason}" for reason in self.reasons[:MAX_REASONS_SHOWN]]
        return "\n".join(lines)


class _DeviceCache:
    def __init__(self, engine: Engine, device: str) -> None:
        self.engine, self.device = engine, device
        self.ids: dict[str, tuple[int, int]] = {}

    def get(self, author: str) -> tuple[int, int]:
        if author not in self.ids:
            with self.engine.begin() as conn:
                self.ids[author] = ensure_device(conn, user=author, device=self.device)
        return self.ids[author]


def load_log_file(
    path: Path, *, root: str, device: str = "import", progress: Callable[[int], None] | None = None,
    engine: Engine | None = None, settings: Settings | None = None,
) -> LoadSummary:  # fmt: skip
    """Load every row of ``path``; bad rows are counted with their reasons, good ones stored exactly once;
    ``progress(1)`` after each row read."""
    engine = engine or get_engine()
    settings = settings or get_settings()
    devices = _DeviceCache(engine, device)
    summary = LoadSummary(path)
    pending: dict[str, list[LogRow]] = defaultdict(list)
    rejected: list[tuple[int, str]] = []

    def flush(author: str) -> None:
        user_id, device_id = devices.get(author)
        rows = pending.pop(author)
        events = [row.event for row in rows]
        result = ingest_events(engine, settings, events, user_id=user_id, device_id=device_id)
        summary.accepted += result.accepted
        summary.duplicates += len(result.duplicates)
        summary.rejected += len(result.rejected)
        rejected.extend((rows[r.index].line, r.reason) for r in result.rejected[:MAX_REASONS_SHOWN])

    for row in read_log(path, root=root):
        summary.read += 1
        pending[row.author].append(row)
        if len(pending[row.author]) >= settings.max_batch_events:
            flush(row.author)
        if progress:
            progress(1)
    for author in list(pending):
        flush(author)
    summary.users = len(devices.ids)
    summary.reasons = [f"line {line}: {reason}" for line, reason in sorted(rejected)]
    return summary
