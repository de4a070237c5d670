"""The agent's local record of its workflows: what the server sent, what the person approved or rejected, what the
agent disabled, and every run. SQLite in the state folder (``workflows.sqlite3``, mode 600).

What may run is decided here and nowhere else (``runnable``): approved by the person at the definition's current
hash, enabled on the server, valid for this agent, not disabled here, and recording not paused. The server can
disable a workflow or publish a new version, but it cannot make anything runnable: only ``approve`` writes an
approval, and an approval of another hash does not count.
"""

from __future__ import annotations

import logging
import sqlite3
import time
import uuid
from typing import Any

import orjson

from agent.config import AgentConfig
from agent.localdb import LocalDb
from agent.pause import PauseLog
from agent.workflows.local import LocalWorkflow, argv_of_blob, local_workflow, synced_row
from agent.workflows.model import Approved, RunRecord
from floyo.errors import InvalidInput, NotFound
from floyo.workflow_definition import WorkflowDefinition

log = logging.getLogger(__name__)

STORE_NAME = "workflows.sqlite3"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS workflows (id INTEGER PRIMARY KEY, version INTEGER NOT NULL, enabled INTEGER NOT NULL,
    name TEXT NOT NULL, definition BLOB NOT NULL, hash TEXT, invalid TEXT, synced_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS approvals (workflow_id INTEGER PRIMARY KEY, hash TEXT NOT NULL, version INTEGER NOT NULL,
    argv BLOB NOT NULL, at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS rejections (workflow_id INTEGER PRIMARY KEY, hash TEXT NOT NULL, version INTEGER NOT NULL,
    at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS disables (workflow_id INTEGER PRIMARY KEY, reason TEXT NOT NULL, at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS runs (run_id TEXT PRIMARY KEY, workflow_id INTEGER NOT NULL, version INTEGER NOT NULL,
    body BLOB NOT NULL, session TEXT NOT NULL, finished INTEGER NOT NULL DEFAULT 0,
    reported INTEGER NOT NULL DEFAULT 0, started_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS runs_by_workflow ON runs (workflow_id, started_at);
CREATE TABLE IF NOT EXISTS notices (workflow_id INTEGER PRIMARY KEY, body BLOB NOT NULL, at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value REAL NOT NULL);
"""
MAX_RUNS_KEPT = 5000  # run records kept locally (the server keeps every reported run)


class WorkflowStore:
    """The local workflow store; implements the engine's ``WorkflowSource`` and ``RunSink``. Thread-safe (one
    SQLite connection per thread); several processes (the agent, the CLI) share the file."""

    def __init__(self, config: AgentConfig) -> None:
        self.config = config
        self.path = config.state_dir / STORE_NAME
        self.pauses = PauseLog(config.state_dir)
        self.session = uuid.uuid4().hex  # runs started by this process; the others are a dead agent's
        self._reporter: Any = None
        self.db = LocalDb(self.path, synchronous="FULL" if config.fsync == "full" else "NORMAL", schema=_SCHEMA)
        self._db, self._tx, self.close = self.db.connection, self.db.transaction, self.db.close

    @staticmethod
    def _changed(db: sqlite3.Connection) -> None:
        db.execute("INSERT INTO meta VALUES ('generation', 1) ON CONFLICT (name) DO UPDATE SET value = value + 1")

    # --- WorkflowSource
    def generation(self) -> int:
        """Changes whenever ``runnable()`` may have changed: a sync, an approval, a disable, a pause or resume."""
        row = self._db().execute("SELECT value FROM meta WHERE name = 'generation'").fetchone()
        return int(row[0] if row else 0) * 2 + int(self.paused())

    def paused(self) -> bool:
        """The kill switch (`floyo agent pause`): nothing starts, running processes are stopped."""
        return self.pauses.paused_now()

    def runnable(self) -> list[Approved]:
        """The workflows that may run now (none while paused)."""
        if self.paused():
            return []
        rows = (
            self._db()
            .execute(
                """SELECT w.id, w.version, w.definition, w.hash, a.argv FROM workflows w
               JOIN approvals a ON a.workflow_id = w.id AND a.hash = w.hash
               WHERE w.enabled AND w.invalid IS NULL
               AND NOT EXISTS (SELECT 1 FROM disables d WHERE d.workflow_id = w.id) ORDER BY w.id"""
            )
            .fetchall()
        )
        return [
            Approved(int(i), int(v), WorkflowDefinition.model_validate(orjson.loads(d)), str(h), argv_of_blob(a))
            for i, v, d, h, a in rows
        ]

    # --- what the server says
    def apply_sync(self, workflows: list[dict[str, Any]]) -> list[str]:
        """Replace the synced copy with the server's list: new versions, enabled flags; gone = removed here.
        Returns what is newly refused by this agent, in words (the caller says it: the agent logs, the CLI shows)."""
        now = time.time()
        rows = [synced_row(w, now) for w in workflows]
        with self._tx() as db:
            before = {r[0]: r[1:] for r in db.execute("SELECT id, version, enabled, hash, invalid FROM workflows")}
            db.execute("DELETE FROM workflows")
            db.executemany("INSERT INTO workflows VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
            after = {r[0]: (r[1], r[2], r[5], r[6]) for r in rows}
            if before != after:
                self._changed(db)
            db.execute("INSERT OR REPLACE INTO meta VALUES ('synced_at', ?)", (now,))
        return [
            f"workflow {row[0]} will not run: {row[6]}"
            for row in rows
            if row[6] is not None and before.get(row[0], (None,) * 4)[3] != row[6]
        ]

    def synced_at(self) -> float | None:
        """When the list was last fetched from the server."""
        row = self._db().execute("SELECT value FROM meta WHERE name = 'synced_at'").fetchone()
        return None if row is None else float(row[0])

    # --- what the person says
    def workflows(self) -> list[LocalWorkflow]:
        """Every synced workflow with its local state."""
        rows = (
            self._db()
            .execute(
                """SELECT w.id, w.version, w.name, w.definition, w.hash, w.enabled, w.invalid,
                      a.hash, a.version, a.argv, r.hash, d.reason
               FROM workflows w LEFT JOIN approvals a ON a.workflow_id = w.id
               LEFT JOIN rejections r ON r.workflow_id = w.id LEFT JOIN disables d ON d.workflow_id = w.id
               ORDER BY w.id"""
            )
            .fetchall()
        )
        return [local_workflow(row) for row in rows]

    def get(self, workflow_id: int) -> LocalWorkflow:
        """One synced workflow, or NotFound."""
        for workflow in self.workflows():
            if workflow.id == workflow_id:
                return workflow
        raise NotFound("no_such_workflow", f"no workflow {workflow_id} on this machine (`floyo agent workflows`)")

    def approve(self, workflow: LocalWorkflow, argv: dict[int, list[str]] | None = None) -> None:
        """Approve ``workflow`` as shown to the person (its hash); clears a rejection and a local disable."""
        if workflow.hash is None:
            raise InvalidInput("invalid_workflow", f"workflow {workflow.id} cannot run here: {workflow.reason}")
        body = orjson.dumps({str(k): v for k, v in (argv or {}).items()})
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO approvals VALUES (?, ?, ?, ?, ?)",
                (workflow.id, workflow.hash, workflow.version, body, time.time()),
            )
            db.execute("DELETE FROM rejections WHERE workflow_id = ?", (workflow.id,))
            db.execute("DELETE FROM disables WHERE workflow_id = ?", (workflow.id,))
            self._notice(db, workflow.id, workflow.version, workflow.hash, "approved")
            self._changed(db)

    def reject(self, workflow: LocalWorkflow) -> None:
        """Reject ``workflow`` at its hash (a changed definition asks again); an approval is withdrawn."""
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO rejections VALUES (?, ?, ?, ?)",
                (workflow.id, workflow.hash or "", workflow.version, time.time()),
            )
            db.execute("DELETE FROM approvals WHERE workflow_id = ?", (workflow.id,))
            self._notice(db, workflow.id, workflow.version, workflow.hash, "rejected")
            self._changed(db)

    # --- RunSink
    def disable(self, workflow_id: int, reason: str) -> None:
        """The agent disables a workflow (repeated failures…): not runnable until approved again; the server is told."""
        row = self._db().execute("SELECT version, hash FROM workflows WHERE id = ?", (workflow_id,)).fetchone()
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO disables VALUES (?, ?, ?)", (workflow_id, reason[:500], time.time()))
            if row is not None:
                self._notice(db, workflow_id, int(row[0]), row[1], "disabled", reason)
            self._changed(db)
        log.warning("workflow %d disabled on this machine: %s", workflow_id, reason)

    def started(self, run: RunRecord) -> None:
        """Record a run as started before its process starts (a crash leaves it to be reported as interrupted)."""
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO runs (run_id, workflow_id, version, body, session, started_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (run.run_id, run.workflow_id, run.version, _body(run), self.session, run.started_at),
            )

    def finished(self, run: RunRecord) -> None:
        """Record the outcome, then queue its ``run`` event (its id derives from the run id: a re-report is a
        duplicate the server stores once), then mark it reported."""
        with self._tx() as db:
            db.execute(
                "INSERT INTO runs (run_id, workflow_id, version, body, session, finished, started_at) "
                "VALUES (?, ?, ?, ?, ?, 1, ?) ON CONFLICT (run_id) DO UPDATE SET body = excluded.body, finished = 1",
                (run.run_id, run.workflow_id, run.version, _body(run), self.session, run.started_at),
            )
        try:
            self._report([run])
        except (sqlite3.Error, OSError) as exc:  # recorded as finished: reported by the next ``report_pending``
            log.error("could not queue the report of run %s: %s", run.run_id, exc)

    def recover(self) -> int:
        """At the agent's start: runs another (dead) agent process left started are finished as ``interrupted``;
        every finished run not yet reported is reported. Returns how many runs were reported."""
        with self._tx() as db:
            stale = db.execute("SELECT body FROM runs WHERE NOT finished AND session != ?", (self.session,)).fetchall()
            for (body,) in stale:
                run = _run(body)
                run.outcome, run.error = "interrupted", "the agent stopped during the run"
                db.execute("UPDATE runs SET body = ?, finished = 1 WHERE run_id = ?", (_body(run), run.run_id))
            cutoff = db.execute("SELECT rowid FROM runs ORDER BY rowid DESC LIMIT 1 OFFSET ?", (MAX_RUNS_KEPT,))
            old = cutoff.fetchone()
            if old is not None:
                db.execute("DELETE FROM runs WHERE rowid <= ? AND reported", (old[0],))
        if stale:
            log.warning("%d workflow run(s) were interrupted by the agent's stop; reported as such", len(stale))
        return self.report_pending()

    def report_pending(self) -> int:
        """Queue the ``run`` events of finished runs not reported yet; returns how many."""
        pending = [_run(b) for (b,) in self._db().execute("SELECT body FROM runs WHERE finished AND NOT reported")]
        self._report(pending)
        return len(pending)

    def _report(self, runs: list[RunRecord]) -> None:
        if not runs:
            return
        from agent.workflows.report import Reporter

        if self._reporter is None:
            self._reporter = Reporter(self.config)
        self._reporter.report(runs, self._definitions({r.workflow_id for r in runs}))
        with self._tx() as db:
            db.executemany("UPDATE runs SET reported = 1 WHERE run_id = ?", [(r.run_id,) for r in runs])

    def _definitions(self, ids: set[int]) -> dict[int, dict[str, Any]]:
        marks = ",".join("?" * len(ids))
        rows = self._db().execute(f"SELECT id, definition FROM workflows WHERE id IN ({marks})", tuple(ids))
        return {int(i): orjson.loads(d) for i, d in rows}

    def runs(self, workflow_id: int | None = None, *, limit: int = 20) -> list[tuple[RunRecord, bool]]:
        """Recent runs (newest first) with whether each was reported."""
        where, args = ("WHERE workflow_id = ?", (workflow_id,)) if workflow_id is not None else ("", ())
        rows = self._db().execute(
            f"SELECT body, reported FROM runs {where} ORDER BY started_at DESC LIMIT ?", (*args, limit)
        )
        return [(_run(body), bool(reported)) for body, reported in rows]

    # --- telling the server
    @staticmethod
    def _notice(
        db: sqlite3.Connection, workflow_id: int, version: int, hash_: str | None, state: str, reason: str = ""
    ) -> None:
        body: dict[str, Any] = {"version": version, "definition_hash": hash_ or "", "state": state}
        if reason:
            body["reason"] = reason[:500]
        # one per workflow: the latest decision is the one the server must know
        db.execute("INSERT OR REPLACE INTO notices VALUES (?, ?, ?)", (workflow_id, orjson.dumps(body), time.time()))

    def notices(self) -> list[tuple[int, dict[str, Any], float]]:
        """Decisions the server has not acknowledged yet: (workflow id, body of PUT …/approval, when)."""
        rows = self._db().execute("SELECT workflow_id, body, at FROM notices ORDER BY at")
        return [(int(i), orjson.loads(b), float(at)) for i, b, at in rows]

    def notice_sent(self, workflow_id: int, at: float) -> None:
        """The server answered for this decision (unless a newer one replaced it meanwhile)."""
        with self._tx() as db:
            db.execute("DELETE FROM notices WHERE workflow_id = ? AND at = ?", (workflow_id, at))


def _body(run: RunRecord) -> bytes:
    return orjson.dumps(run.__dict__)


def _run(body: bytes) -> RunRecord:
    fields = set(RunRecord.__dataclass_fields__)
    return RunRecord(**{k: v for k, v in orjson.loads(body).items() if k in fields})
