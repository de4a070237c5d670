"""`floyo agent dry-run`: a workflow replayed on the local activity log (real SQLite), nothing run."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from agent.config import AgentConfig
from agent.workflows.activity import ActivityLog
from agent.workflows.dryrun import dry_run
from agent.workflows.store import WorkflowStore
from tests.utils.cli import assert_one_line_failure, invoke


def row(wid: int, definition: dict[str, Any]) -> dict[str, Any]:
    return {"id": wid, "version": 1, "name": definition["name"], "enabled": True, "definition": definition}


CONVERT = {
    "name": "pdf on save",
    "triggers": [{"type": "file", "root": "notes", "paths": ["**/*.md"], "events": ["modify", "create"],
                  "debounce_ms": 2000}],
    "actions": [{"type": "run", "command": ["pandoc", "{trigger.path}", "-o", "{trigger.stem}.pdf"],
                 "writes": ["**/*.pdf", "build/**"]}],
}  # fmt: skip
NIGHTLY = {
    "name": "nightly backup",
    "triggers": [{"type": "schedule", "cron": "30 2 * * *"}],
    "actions": [{"type": "notify", "message": "backup"}],
}


def test_a_replay_debounces_storms_skips_own_writes_and_counts_schedules(tmp_path: Path):
    config = AgentConfig(roots={"notes": tmp_path}, state_dir=tmp_path / "state")
    store = WorkflowStore(config)
    store.apply_sync([row(1, CONVERT), row(2, NIGHTLY)])
    log = ActivityLog(config)
    t0 = time.time() - 3600
    storm = [{"kind": "modify", "path": "a.md", "wall": t0 + i * 0.5} for i in range(5)]  # one save storm
    log.record("notes", [*storm,
        {"kind": "modify", "path": "b/c.md", "wall": t0 + 1},  # another file: its own run
        {"kind": "create", "path": "a.pdf", "wall": t0 + 4},  # its output: no trigger
        {"kind": "modify", "path": "build/x.md", "wall": t0 + 5},  # declared in writes: no trigger
        {"kind": "delete", "path": "d.md", "wall": t0 + 6},  # not a kind it waits for
        {"kind": "modify", "path": "a.md", "wall": t0 + 100},  # a later save: a second run
    ])  # fmt: skip
    log.record("other", [{"kind": "modify", "path": "a.md", "wall": t0 + 7}])  # another root
    since = t0 - 1
    activity = log.since(since)
    runs = dry_run(store.get(1), activity, since=since, until=time.time())
    assert [(r.trigger, round(r.at - t0, 1)) for r in runs] == [
        ("modify notes:b/c.md", 3.0), ("modify notes:a.md", 4.0), ("modify notes:a.md", 102.0),
    ]  # fmt: skip
    assert runs[0].actions == ["run `pandoc b/c.md -o c.pdf` in notes/. (time limit 300 s)"]
    now = datetime.now().astimezone()
    week = dry_run(store.get(2), [], since=(now - timedelta(days=7)).timestamp(), until=now.timestamp())
    assert len(week) == 7
    assert all(datetime.fromtimestamp(r.at).strftime("%H:%M") == "02:30" for r in week)


def test_dry_run_command(env, tmp_path: Path):
    state = tmp_path / "state"
    config = AgentConfig(roots={"notes": tmp_path}, state_dir=state)
    WorkflowStore(config).apply_sync([row(1, CONVERT)])
    ActivityLog(config).record("notes", [{"kind": "create", "path": "new.md", "wall": time.time() - 60}])
    opts = ["--state-dir", str(state)]
    doc = orjson.loads(invoke("agent", "dry-run", "1", "--days", "1", "--json", *opts).stdout)
    assert [r["trigger"] for r in doc["runs"]] == ["create notes:new.md"]
    text = invoke("agent", "dry-run", "1", *opts)
    assert text.exit_code == 0
    assert "would have run 1 time(s) in the last 7 day(s) of local activity (nothing was run)" in text.stdout
    assert_one_line_failure(invoke("agent", "dry-run", "7", *opts), "no workflow 7")
