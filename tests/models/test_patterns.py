"""`floyo patterns rules|workflows` on a tiny hand-written log."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from floyo.cli import app
from tests.models.helpers import write_log


def _log(tmp_path: Path) -> Path:
    rows = []
    for day in range(1, 11):  # alice changes code with its docs; bob only touches the changelog
        ts = f"2024-02-{day:02d}T09:00:00Z"
        rows += [("alice", ts, "src/app.py", f"a{day}"), ("alice", ts, "docs/app.rst", f"a{day}")]
        rows.append(("bob", f"2024-02-{day:02d}T15:00:00Z", "CHANGES", f"b{day}"))
    return write_log(tmp_path / "log.csv.gz", rows)


def test_rules_for_one_user_with_evidence(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["patterns", "rules", "--events", str(_log(tmp_path)), "--user", "alice", "--json"]
    )
    assert result.exit_code == 0, result.output
    rules = json.loads(result.stdout)
    pairs = {(tuple(r["antecedents"]), tuple(r["consequents"])) for r in rules}
    assert (("ext:py",), ("ext:rst",)) in pairs
    assert (("dir:docs",), ("dir:src",)) in pairs
    assert all(r["confidence"] == 1.0 and r["count"] == 10 for r in rules)
    assert rules[0]["evidence"][-1] == "a10"  # the latest commit
    assert not any("CHANGES" in json.dumps(r) or "(none)" in json.dumps(r) for r in rules)  # bob's are not alice's


def test_workflows_and_unknown_user(tmp_path: Path) -> None:
    rows = []
    for day in range(1, 13):  # each day: a csv, its report 40 s later, then two unrelated notes hours later
        d = f"2024-02-{day:02d}"
        rows += [
            ("alice", f"{d}T09:00:00Z", "data/x.csv", f"c{day}"),
            ("alice", f"{d}T09:00:40Z", "out/r.md", f"r{day}"),
        ]
        rows += [
            ("alice", f"{d}T12:00:00Z", "notes/n.txt", f"n{day}"),
            ("alice", f"{d}T12:10:00Z", "notes/m.txt", f"m{day}"),
        ]
    log = write_log(tmp_path / "wf.csv.gz", rows)
    found = CliRunner().invoke(app, ["patterns", "workflows", "--events", str(log), "--json"])
    assert found.exit_code == 0, found.output
    # md follows 12 of the 36 events that are not md within 60 s, all after a csv: lift 1 / (12/36) = 3
    assert [(w["a"], w["b"], w["window_s"], w["support"], w["lift"]) for w in json.loads(found.stdout)] == [
        ("modify:csv", "modify:md", 60.0, 12, 3.0)
    ]
    missing = CliRunner().invoke(app, ["patterns", "rules", "--events", str(_log(tmp_path)), "--user", "carol"])
    assert missing.exit_code == 1
    assert "no events of user 'carol'" in missing.output
