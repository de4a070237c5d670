"""The durable local spool: SQLite in WAL mode, events deleted only after the server acknowledged them.

It also keeps the file index (what the agent last reported for every file of every root), written in the
same transaction as the events that changed it, so a restart after a crash rescans and reports exactly the
changes that never reached the spool.

fsync policy: WAL with ``synchronous=NORMAL`` (default) makes every committed transaction survive a crash or
``kill -9`` of the agent (the WAL is in the OS page cache); a power loss may lose the last commits.
``synchronous=FULL`` (``fsync = "full"``) fsyncs the WAL at every commit and survives power loss too.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from agent.localdb import LocalDb

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, body BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS files (
    root TEXT NOT NULL, path TEXT NOT NULL, mtime_ns INTEGER NOT NULL, size INTEGER NOT NULL, ino INTEGER NOT NULL,
    PRIMARY KEY (root, path)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
"""
COUNTERS = ("captured", "sent", "duplicate", "rejected", "dropped_over_cap")

FileState = tuple[int, int, int]  # mtime_ns, size, inode


@dataclass(frozen=True)
class SpoolStats:
    """What the spool holds and has done."""

    queued: int
    counters: dict[str, int]


class Spool:
    """Thread-safe access to the spool file; each thread gets its own connection."""

    def __init__(self, path: Path, *, max_events: int = 1_000_000, fsync: str = "normal") -> None:
        self.path = path
        self.max_events = max_events
        self.db = LocalDb(path, synchronous="FULL" if fsync == "full" else "NORMAL", schema=_SCHEMA)
        self._db, self._tx, self.close = self.db.connection, self.db.transaction, self.db.close
        with self._tx() as db:
            db.executemany("INSERT OR IGNORE INTO counters VALUES (?, 0)", [(c,) for c in COUNTERS])

    def queued(self) -> int:
        """How many events wait to be sent."""
        return int(self._db().execute("SELECT count(*) FROM outbox").fetchone()[0])

    def append(
        self,
        events: list[dict[str, Any]],
        *,
        root: str | None = None,
        upserts: Iterable[tuple[str, FileState]] = (),
        deletes: Iterable[str] = (),
    ) -> int:
        """Store events and the file-index changes behind them in one transaction; returns how many were kept.

        Over the size cap new events are not stored: they are counted and a warning is logged (never silent).
        """
        with self._tx() as db:
            room = self.max_events - int(db.execute("SELECT count(*) FROM outbox").fetchone()[0])
            kept, dropped = events[: max(room, 0)], events[max(room, 0) :]
            db.executemany("INSERT INTO outbox (body) VALUES (?)", [(orjson.dumps(e),) for e in kept])
            if root is not None:
                db.executemany(
                    "INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?)", [(root, p, *s) for p, s in upserts]
                )
                db.executemany("DELETE FROM files WHERE root = ? AND path = ?", [(root, p) for p in deletes])
            self._bump(db, captured=len(kept), dropped_over_cap=len(dropped))
        if dropped:
            log.warning(
                "spool full (%d events, cap %d): %d new events were NOT recorded; is the server reachable?",
                self.max_events, self.max_events, len(dropped),
            )  # fmt: skip
        return len(kept)

    def peek(self, limit: int, max_bytes: int) -> list[tuple[int, bytes]]:
        """The oldest queued events (id, JSON body), at most ``limit`` of them and about ``max_bytes`` in all."""
        rows = self._db().execute("SELECT id, body FROM outbox ORDER BY id LIMIT ?", (limit,)).fetchall()
        batch: list[tuple[int, bytes]] = []
        size = 0
        for row_id, body in rows:
            if batch and size + len(body) + 1 > max_bytes:
                break
            batch.append((int(row_id), bytes(body)))
            size += len(body) + 1
        return batch

    def ack(self, ids: list[int], **counts: int) -> None:
        """Delete events the server answered for, and count the outcomes."""
        with self._tx() as db:
            db.executemany("DELETE FROM outbox WHERE id = ?", [(i,) for i in ids])
            self._bump(db, **counts)

    @staticmethod
    def _bump(db: sqlite3.Connection, **counts: int) -> None:
        db.executemany("UPDATE counters SET value = value + ? WHERE name = ?", [(n, k) for k, n in counts.items() if n])

    def stats(self) -> SpoolStats:
        """Queued events and the counters."""
        db = self._db()
        counters = {str(k): int(v) for k, v in db.execute("SELECT name, value FROM counters")}
        return SpoolStats(queued=self.queued(), counters=counters)

    def mark(self, name: str) -> None:
        """Set a named marker (a counter that exists once set)."""
        with self._tx() as db:
            db.execute("INSERT OR IGNORE INTO counters VALUES (?, 1)", (name,))

    def file(self, root: str, path: str) -> FileState | None:
        """What was last reported for one file, None when it is not indexed."""
        row = (
            self._db()
            .execute("SELECT mtime_ns, size, ino FROM files WHERE root = ? AND path = ?", (root, path))
            .fetchone()
        )
        return None if row is None else (int(row[0]), int(row[1]), int(row[2]))

    def files_under(self, root: str, folder: str) -> list[str]:
        """Indexed files below ``folder`` (relative to the root)."""
        prefix = folder + "/"
        rows = self._db().execute(
            "SELECT path FROM files WHERE root = ? AND path >= ? AND path < ?", (root, prefix, prefix + "\U0010ffff")
        )
        return [str(r[0]) for r in rows]

    def replace_files(self, root: str, files: Iterable[tuple[str, FileState]]) -> None:
        """Overwrite a root's index without reporting anything (the first time a root is watched)."""
        with self._tx() as db:
            db.execute("DELETE FROM files WHERE root = ?", (root,))
            db.executemany("INSERT INTO files VALUES (?, ?, ?, ?, ?)", ((root, p, *s) for p, s in files))

    def forget_files(self, root: str, paths: Iterable[str]) -> None:
        """Drop some files from a root's index without reporting anything (they will be reported as new)."""
        with self._tx() as db:
            db.executemany("DELETE FROM files WHERE root = ? AND path = ?", ((root, p) for p in paths))

    def changed_files(self, root: str, disk: Iterable[tuple[str, FileState]]) -> list[str]:
        """Paths whose state on ``disk`` differs from the index (new, changed or gone), compared inside SQLite."""
        db = self._db()
        db.execute(
            "CREATE TEMP TABLE IF NOT EXISTS disk (path TEXT PRIMARY KEY, mtime_ns INT, size INT, ino INT) WITHOUT ROWID"
        )
        # a deferred transaction: the walk fills a temporary table and never blocks the spool's writers
        db.execute("BEGIN")
        try:
            db.execute("DELETE FROM temp.disk")
            db.executemany("INSERT OR REPLACE INTO temp.disk VALUES (?, ?, ?, ?)", ((p, *s) for p, s in disk))
            rows = db.execute(
                """SELECT d.path FROM temp.disk d LEFT JOIN files f ON f.root = ?1 AND f.path = d.path
                   WHERE f.path IS NULL OR f.mtime_ns != d.mtime_ns OR f.size != d.size OR f.ino != d.ino
                   UNION ALL
                   SELECT f.path FROM files f WHERE f.root = ?1
                   AND NOT EXISTS (SELECT 1 FROM temp.disk d WHERE d.path = f.path)""",
                (root,),
            ).fetchall()
            db.execute("DELETE FROM temp.disk")
        finally:
            db.execute("COMMIT")
        return [str(r[0]) for r in rows]


class FileIndex:
    """One root's index: the spool's table, with the not yet committed changes of the current flush on top."""

    def __init__(self, spool: Spool, root: str) -> None:
        self.spool = spool
        self.root = root
        self.overlay: dict[str, FileState | None] = {}

    def get(self, path: str) -> FileState | None:
        if path in self.overlay:
            return self.overlay[path]
        return self.spool.file(self.root, path)

    def set(self, path: str, state: FileState | None) -> None:
        self.overlay[path] = state

    def under(self, folder: str) -> list[str]:
        prefix = folder + "/"
        found = {p for p in self.spool.files_under(self.root, folder) if self.overlay.get(p, True) is not None}
        return sorted(found | {p for p, s in self.overlay.items() if s is not None and p.startswith(prefix)})

    def committed(self) -> None:
        """The overlay is in the spool now."""
        self.overlay.clear()
