"""The agent's local SQLite files (the spool, the workflow store, the activity log): private, in WAL mode, one
connection per thread, and write transactions that take the lock at once."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from agent.secure import private_dir, private_file


class LocalDb:
    """A SQLite file shared by this process's threads (a connection each) and by other processes (the CLI)."""

    def __init__(self, path: Path, *, synchronous: str = "NORMAL", timeout: float = 30.0, schema: str = "") -> None:
        self.path = path
        self.synchronous = synchronous
        self.timeout = timeout
        self._local = threading.local()
        if not path.exists():  # created 0600 before SQLite opens it: its -wal and -shm files take its mode
            private_dir(path.parent)
            private_file(path)
        if schema:
            with self.transaction() as db:
                for statement in schema.split(";"):
                    if statement.strip():
                        db.execute(statement)

    def connection(self) -> sqlite3.Connection:
        """This thread's connection (opened on first use)."""
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(f"PRAGMA synchronous={self.synchronous}")
            self._local.db = db
        return db

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction: the write lock is taken at BEGIN, so two writers never deadlock on an upgrade."""
        db = self.connection()
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
            db.execute("COMMIT")  # inside: a COMMIT that fails (disk full) must not leave the transaction open
        except BaseException:
            if db.in_transaction:  # SQLite may have rolled back already (SQLITE_FULL)
                db.execute("ROLLBACK")
            raise

    def close(self) -> None:
        """Close this thread's connection."""
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None
