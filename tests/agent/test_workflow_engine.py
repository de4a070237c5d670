"""The workflow engine on real files: the real watcher (inotify, coalescing, spool) feeds it, real programs run."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.agent.helpers import wait_for
from tests.agent.workflow_helpers import Memory, Rig, approve

RECORD = """import json, os, sys, time
with open(sys.argv[1], "a") as f:
    f.write(json.dumps({"args": sys.argv[2:], "cwd": os.getcwd(), "t": time.time(),
                        "env": {k: v for k, v in os.environ.items()}}) + "\\n")
"""
CONVERT = """import html, pathlib, sys
src = pathlib.Path(sys.argv[1])
lines = src.read_text().splitlines()
body = "".join(f"<h1>{html.escape(l[2:])}</h1>" if l.startswith("# ") else f"<p>{html.escape(l)}</p>" for l in lines)
src.with_suffix(".html").write_text(f"<html><body>{body}</body></html>")
"""


@pytest.fixture
def tools(tmp_path: Path) -> Path:
    folder = tmp_path / "tools"
    folder.mkdir()
    (folder / "record.py").write_text(RECORD)
    (folder / "convert.py").write_text(CONVERT)
    return folder


def owner(event: dict[str, Any]) -> int | None:
    """The workflow the watcher tagged an event with (its own write), None for the person's."""
    return (event.get("meta") or {}).get("workflow_id")


def records(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def test_an_editor_save_storm_is_one_run_per_save(tmp_path, tools):
    log = tmp_path / "runs.jsonl"
    memory = Memory(approve(1, {
        "name": "check on save", "mode": "queued",
        "triggers": [{"type": "file", "root": "home", "paths": ["notes/*.md"], "events": ["create", "modify"],
                      "debounce_ms": 1000}],
        "actions": [{"type": "run", "command": [sys.executable, str(tools / "record.py"), str(log), "{trigger.path}"],
                     "cwd": "notes"}],
    }))  # fmt: skip
    with Rig(tmp_path, memory) as rig:
        note = rig.root / "notes" / "todo.md"
        note.parent.mkdir()
        rig.quiet()
        for i in range(4):  # an editor writing in several steps, each past the watcher's 0.2 s coalescing
            note.write_text(f"# todo {i}\n")
            time.sleep(0.3)  # the storm's shape (writes 0.3 s apart), not a wait for a result
        rig.quiet()
        writes = [e for e in rig.seen if e["path"] == "notes/todo.md"]
        assert len(writes) >= 2, writes  # the storm reached the engine as several events…
        assert len(records(log)) == 1  # …and ran once
        (run,) = memory.runs(1)
        assert (run.outcome, run.exit_code, run.trigger["path"]) == ("ok", 0, "notes/todo.md")
        assert run.tool == Path(sys.executable).name
        (rec,) = records(log)
        assert rec["args"] == [str(note)]  # {trigger.path}: the absolute path
        assert rec["cwd"] == str(rig.root / "notes")
        assert rec["env"]["FLOYO_TRIGGER_REL"] == "notes/todo.md"
        assert rec["env"]["FLOYO_WORKFLOW_ID"] == "1"

        note.write_text("# todo: a second save\n")  # a second save after the first run: a second run
        rig.quiet()
        assert len(records(log)) == 2


def test_a_run_without_the_file_runs_once_for_a_burst_of_files(tmp_path, tools):
    log = tmp_path / "runs.jsonl"
    memory = Memory(approve(1, {
        "name": "tests on save",
        "triggers": [{"type": "file", "root": "home", "paths": ["src/**/*.py"], "debounce_ms": 500,
                      "events": ["modify"]}],
        "actions": [{"type": "run", "command": [sys.executable, str(tools / "record.py"), str(log)], "cwd": "src"}],
    }))  # fmt: skip
    with Rig(tmp_path, memory) as rig:
        (rig.root / "src" / "pkg").mkdir(parents=True)
        files = [rig.root / "src" / "a.py", rig.root / "src" / "pkg" / "b.py", rig.root / "src" / "pkg" / "c.py"]
        for f in files:
            f.write_text("x = 1\n")
        rig.quiet()
        for f in files:  # "save all"
            f.write_text("x = 2\n")
        rig.quiet()
        assert len(records(log)) == 1


def test_convert_on_change_runs_a_real_tool_and_its_output_triggers_nothing(tmp_path, tools):
    log = tmp_path / "other.jsonl"
    memory = Memory(
        approve(1, {
            "name": "markdown to html",
            "triggers": [{"type": "file", "root": "home", "paths": ["docs/*"], "events": ["create", "modify"],
                          "debounce_ms": 300}],  # its own output (docs/x.html) matches its own glob
            "actions": [{"type": "run", "command": [sys.executable, str(tools / "convert.py"), "{trigger.path}"],
                         "cwd": "docs"}],
        }),
        approve(2, {  # another workflow watching exactly what the first one writes
            "name": "html published",
            "triggers": [{"type": "file", "root": "home", "paths": ["docs/*.html"], "events": ["create", "modify"],
                          "debounce_ms": 0}],
            "actions": [{"type": "run", "command": [sys.executable, str(tools / "record.py"), str(log),
                                                    "{trigger.name}"]}],
        }),
    )  # fmt: skip
    with Rig(tmp_path, memory) as rig:
        docs = rig.root / "docs"
        docs.mkdir()
        rig.quiet()
        (docs / "guide.md").write_text("# Guide\nhello <world>\n")
        html = docs / "guide.html"
        wait_for(html.exists, what="the converted file")
        rig.quiet()
        assert html.read_text() == "<html><body><h1>Guide</h1><p>hello &lt;world&gt;</p></body></html>"
        assert any(e["path"] == "docs/guide.html" for e in rig.seen)  # the watcher did report the output…
        assert [r.trigger["path"] for r in memory.runs(1)] == ["docs/guide.md"]  # …which did not retrigger it
        assert memory.runs(2) == []
        assert records(log) == []
        # tagged as the workflow's, so the outcome and the mining don't count it as the person's work
        assert {owner(e) for e in rig.seen if e["path"] == "docs/guide.html"} == {1}
        written = [e for e in rig.seen if e["path"] == "docs/guide.md" and e["kind"] != "open"]
        assert written
        assert all(owner(e) is None for e in written)
        assert {owner(e) for e in rig.seen if e["path"] == "docs/guide.md" and e["kind"] == "open"} <= {1}

        (docs / "hand.html").write_text("<p>by hand</p>")  # the person's own html file does trigger both
        rig.quiet()
        assert [r["args"] for r in records(log)] == [["hand.html"]]
        assert sorted(r.trigger["path"] for r in memory.runs(1)) == ["docs/guide.md", "docs/hand.html"]


def test_move_by_type_files_a_download_and_never_overwrites(tmp_path):
    memory = Memory(
        approve(1, {
            "name": "file PDFs",
            "triggers": [{"type": "file", "root": "home", "paths": ["Downloads/*.pdf"], "events": ["create"],
                          "debounce_ms": 200}],
            "actions": [{"type": "move", "dest": "Documents/{trigger.ext}/"}],
        }),
        approve(2, {  # a backup of everything that lands in Documents: the move's result must not trigger it
            "name": "backup documents",
            "triggers": [{"type": "file", "root": "home", "paths": ["Documents/**"], "events": ["create", "move"],
                          "debounce_ms": 0}],
            "actions": [{"type": "copy", "dest": "Backup/"}],
        }),
    )  # fmt: skip
    with Rig(tmp_path, memory) as rig:
        downloads = rig.root / "Downloads"
        downloads.mkdir()
        filed = rig.root / "Documents" / "pdf"
        filed.mkdir(parents=True)
        (filed / "invoice.pdf").write_bytes(b"%PDF an older invoice")
        rig.quiet()
        assert memory.runs(2)  # a document the person files by hand is backed up
        assert (rig.root / "Backup" / "invoice.pdf").read_bytes() == b"%PDF an older invoice"
        assert all(owner(e) is None for e in rig.seen if e["path"].startswith("Documents/"))  # filed by hand
        backups = len(memory.runs(2))
        part = downloads / "invoice.pdf.part"  # as a browser downloads: a partial file renamed when complete
        part.write_bytes(b"%PDF-1.7 new invoice")
        os.rename(part, downloads / "invoice.pdf")
        wait_for(lambda: (filed / "invoice (1).pdf").exists(), what="the download filed")
        rig.quiet()
        assert (filed / "invoice (1).pdf").read_bytes() == b"%PDF-1.7 new invoice"
        assert (filed / "invoice.pdf").read_bytes() == b"%PDF an older invoice"  # not overwritten
        assert not (downloads / "invoice.pdf").exists()
        (run,) = memory.runs(1)
        assert run.outcome == "ok"
        assert "moved Downloads/invoice.pdf to Documents/pdf/invoice (1).pdf" in run.output_tail
        assert len(memory.runs(2)) == backups  # the move's own write triggered no other workflow
        moved = [e for e in rig.seen if "Documents/pdf/invoice (1).pdf" in (e["path"], e.get("dest_path"))]
        assert moved
        assert all(owner(e) == 1 for e in moved)
        (downloads / "notes.txt").write_text("not a pdf")
        rig.quiet()
        assert len(memory.runs(1)) == 1
        assert (downloads / "notes.txt").exists()
