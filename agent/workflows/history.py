"""The local command history: full command lines the shell hook saw, kept on this machine only.

The events the agent sends name the program and never its arguments; approving a suggested ``run`` action needs
the arguments the person actually uses (``pandoc notes.md -o notes.pdf``), so the shell hook also appends the
whole line here: ``history.sqlite3`` in the state folder (mode 600), bounded by ``history_days`` and
``history_max_lines``, never for excluded folders or commands outside the roots, never while paused. Nothing
reads it but ``floyo agent approve`` on this machine: it is not in the spool and has no path to the server.
"""

from __future__ import annotations

import shlex
import sqlite3
import time
from collections import Counter
from pathlib import Path

import orjson

from agent.commandline import _ASSIGNMENT, parse_command
from agent.config import AgentConfig
from agent.secure import private_dir, private_file

HISTORY_NAME = "history.sqlite3"
_SCHEMA = """CREATE TABLE IF NOT EXISTS history (id INTEGER PRIMARY KEY AUTOINCREMENT, ts REAL NOT NULL,
    root TEXT NOT NULL, folder TEXT NOT NULL, tool TEXT NOT NULL, argv BLOB NOT NULL)"""
_INDEX = "CREATE INDEX IF NOT EXISTS history_by_place ON history (root, folder, tool)"
_OPERATOR_CHARS = frozenset(";&|()<>")


def argv_of(command_line: str) -> list[str] | None:
    """The argv of a plain command line (leading ``VAR=value`` assignments dropped); None for shell syntax (a pipe,
    a redirection, a list, a substitution), which the agent could not run without a shell."""
    lexer = shlex.shlex(command_line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    try:
        words = list(lexer)
    except ValueError:
        return None
    while words and _ASSIGNMENT.match(words[0]):
        words.pop(0)
    if not words or any(set(w) <= _OPERATOR_CHARS or "$(" in w or "`" in w for w in words):
        return None
    return words


class CommandHistory:
    """One state folder's history file."""

    def __init__(self, config: AgentConfig) -> None:
        self.path: Path = config.state_dir / HISTORY_NAME
        self.days = config.history_days
        self.max_lines = config.history_max_lines

    def _connect(self) -> sqlite3.Connection:
        if not self.path.exists():
            private_dir(self.path.parent)
            private_file(self.path)
        db = sqlite3.connect(self.path, timeout=10.0, isolation_level=None)
        db.execute(_SCHEMA)
        db.execute(_INDEX)
        return db

    def record(self, *, root: str, folder: str, command_line: str, at: float) -> bool:
        """Keep one command line run in ``folder`` (relative to ``root``); False when it is not a plain command."""
        argv = argv_of(command_line)
        command = parse_command(command_line)
        if argv is None or command is None:
            return False
        db = self._connect()
        try:
            db.execute("BEGIN IMMEDIATE")
            db.execute(
                "INSERT INTO history (ts, root, folder, tool, argv) VALUES (?, ?, ?, ?, ?)",
                (at, root, folder, command.tool, orjson.dumps(argv)),
            )
            # the bounds, kept at every write: old lines and the oldest beyond the cap go
            db.execute("DELETE FROM history WHERE ts < ?", (time.time() - self.days * 86400,))
            db.execute("DELETE FROM history WHERE id <= (SELECT max(id) FROM history) - ?", (self.max_lines,))
            db.execute("COMMIT")
        finally:
            db.close()
        return True

    def propose(self, *, root: str, folder: str, tool: str, days: int = 30) -> list[str] | None:
        """The command line of ``tool`` the person ran most often in ``folder`` in the last ``days`` (the latest
        wins a tie); None when there is none."""
        if not self.path.exists():
            return None
        db = self._connect()
        try:
            rows = db.execute(
                "SELECT argv FROM history WHERE root = ? AND folder = ? AND tool = ? AND ts >= ? ORDER BY id",
                (root, folder, tool, time.time() - days * 86400),
            ).fetchall()
        finally:
            db.close()
        counts: Counter[bytes] = Counter()
        last: dict[bytes, int] = {}
        for i, (argv,) in enumerate(rows):
            counts[bytes(argv)] += 1
            last[bytes(argv)] = i
        if not counts:
            return None
        best = max(counts, key=lambda a: (counts[a], last[a]))
        return [str(w) for w in orjson.loads(best)]

    def lines(self) -> int:
        """How many command lines are kept."""
        if not self.path.exists():
            return 0
        db = self._connect()
        try:
            return int(db.execute("SELECT count(*) FROM history").fetchone()[0])
        finally:
            db.close()
