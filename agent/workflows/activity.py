"""The local activity log: the file events the agent recorded, in clear, for `floyo agent dry-run` only.

``activity.sqlite3`` in the state folder (mode 600): kind, root, path, destination and time of each coalesced event
(what was spooled, paused moments excluded), kept ``activity_days`` days and at most ``MAX_ROWS`` rows. It stays
on this machine (in privacy mode the server only ever sees hashed names; this log keeps the real ones so a dry
run can show real files).
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from typing import Any

from agent.config import AgentConfig
from agent.localdb import LocalDb

ACTIVITY_NAME = "activity.sqlite3"
MAX_ROWS = 500_000
PRUNE_EVERY = 300.0  # seconds between two prunes (a prune at every flush would cost more than the insert)
_SCHEMA = """CREATE TABLE IF NOT EXISTS activity (id INTEGER PRIMARY KEY AUTOINCREMENT, ts REAL NOT NULL,
    root TEXT NOT NULL, kind TEXT NOT NULL, path TEXT NOT NULL, dest_path TEXT)"""


@dataclass(frozen=True)
class Activity:
    """One recorded file event."""

    ts: float
    root: str
    kind: str
    path: str
    dest_path: str | None


class ActivityLog:
    """One state folder's activity log; ``record`` is a watcher listener."""

    def __init__(self, config: AgentConfig) -> None:
        self.path = config.state_dir / ACTIVITY_NAME
        self.days = config.activity_days
        self._pruned = 0.0
        self._file: LocalDb | None = None  # opened (and created) on the first use: a dry run creates nothing

    def _local_db(self) -> LocalDb:
        if self._file is None:
            self._file = LocalDb(self.path, timeout=10.0, schema=_SCHEMA)
        return self._file

    def _db(self) -> sqlite3.Connection:
        return self._local_db().connection()

    def record(self, root: str, events: list[dict[str, Any]]) -> None:
        """Append decided file events (the watcher's: kind, path, wall, dest_path)."""
        rows = [(e["wall"], root, e["kind"], e["path"], e.get("dest_path")) for e in events if e.get("kind") != "open"]
        if not rows:
            return
        with self._local_db().transaction() as db:
            db.executemany("INSERT INTO activity (ts, root, kind, path, dest_path) VALUES (?, ?, ?, ?, ?)", rows)
            if time.monotonic() - self._pruned > PRUNE_EVERY:
                self._pruned = time.monotonic()
                db.execute("DELETE FROM activity WHERE ts < ?", (time.time() - self.days * 86400,))
                db.execute("DELETE FROM activity WHERE id <= (SELECT max(id) FROM activity) - ?", (MAX_ROWS,))

    def since(self, ts: float) -> list[Activity]:
        """Every event from ``ts`` on, oldest first."""
        if not self.path.exists():
            return []
        rows = self._db().execute(
            "SELECT ts, root, kind, path, dest_path FROM activity WHERE ts >= ? ORDER BY ts, id", (ts,)
        )
        return [Activity(float(t), str(r), str(k), str(p), d) for t, r, k, p, d in rows]

    def close(self) -> None:
        """Close this thread's connection."""
        if self._file is not None:
            self._file.close()
