"""`floyo evaluate` on the real flask log: the baselines reproduce the README's reference figures, Floyo beats them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from floyo.cli import app
from models.evaluate import REFERENCE, cochange_beside_reference, evaluate_log
from tests.models.helpers import flask_log, write_log


@pytest.fixture(scope="module")
def flask_result() -> dict[str, Any]:
    return evaluate_log(flask_log(), test_frac=0.2)


@pytest.mark.parametrize("name", ["mostpop", "markov1"])
def test_next_ext_baselines_reproduce_reference(flask_result: dict[str, Any], name: str) -> None:
    got = flask_result["next_ext_baselines"][name]
    assert {k: got[k] for k in REFERENCE[name]} == REFERENCE[name]


@pytest.mark.parametrize("level", ["path", "ext"])
def test_cochange_baseline_reproduces_reference(flask_result: dict[str, Any], level: str) -> None:
    got = flask_result["cochange_baseline"][level]
    assert {k: got[k] for k in REFERENCE[level]} == REFERENCE[level]


def test_cochange_beside_reference_puts_the_three_side_by_side(flask_result: dict[str, Any]) -> None:
    table = cochange_beside_reference(flask_result)
    assert table.height == 2 * 3 * 5
    pivot = {(r["level"], r["model"], r["metric"]): r["value"] for r in table.iter_rows(named=True)}
    assert pivot[("path", "reference", "r10")] == REFERENCE["path"]["r10"] == pivot[("path", "pairwise", "r10")]
    assert pivot[("ext", "floyo", "mrr")] == flask_result["cochange_ext"]["mrr"]


def test_floyo_next_ext_beats_baselines(flask_result: dict[str, Any]) -> None:
    floyo = flask_result["next_ext"]
    assert floyo["n"] == 2077
    for baseline in ("mostpop", "markov1"):
        base = flask_result["next_ext_baselines"][baseline]
        for metric in ("hr1", "hr3", "hr5", "mrr"):
            assert floyo[metric] > base[metric], (baseline, metric)


@pytest.mark.parametrize("level", ["path", "ext"])
def test_floyo_cochange_beats_pairwise_rules(flask_result: dict[str, Any], level: str) -> None:
    floyo, base = flask_result[f"cochange_{level}"], flask_result["cochange_baseline"][level]
    assert floyo["n"] == base["n"]
    for metric in ("r1", "r5", "r10", "mrr"):
        assert floyo[metric] > base[metric], metric
    assert floyo["coverage"] >= base["coverage"]


def test_cli_prints_one_json_object(tmp_path: Path) -> None:
    rows = []
    for day in range(1, 21):  # two users, each commit touches a .py with its test and sometimes docs
        ts = f"2024-01-{day:02d}T10:00:00Z"
        user = "alice" if day % 2 else "bob"
        rows += [(user, ts, "app/core.py", f"c{day}"), (user, ts, "tests/test_core.py", f"c{day}")]
        if day % 3 == 0:
            rows.append((user, ts, "docs/index.rst", f"c{day}"))
    log = write_log(tmp_path / "tiny.events.csv.gz", rows)
    result = CliRunner().invoke(app, ["evaluate", "--events", str(log), "--test-frac", "0.25", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert set(out) >= {"next_ext", "next_ext_baselines", "cochange_path", "cochange_ext", "cochange_baseline"}
    assert out["split"] == {"transactions": 20, "train": 15, "test_frac": 0.25}
    # test commits c16..c20: each hides one of its 2-3 files; core.py and test_core.py always predict each other
    assert out["cochange_path"]["n"] == 2 * 5 + 1  # c18 also has docs/index.rst
    assert out["cochange_baseline"]["path"]["r1"] >= 10 / 11
    assert set(out["next_ext"]) == {"hr1", "hr3", "hr5", "mrr", "coverage", "n"}


def test_cli_refuses_a_missing_file(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["evaluate", "--events", str(tmp_path / "nope.csv.gz")])
    assert result.exit_code == 1
    assert "cannot read" in result.output


def test_cli_refuses_a_log_without_the_needed_columns(tmp_path: Path) -> None:
    log = tmp_path / "other.csv"
    log.write_text("user,when,file\nu1,2024-01-01T00:00:00Z,a.py\n")
    result = CliRunner().invoke(app, ["evaluate", "--events", str(log), "--json"])
    assert result.exit_code == 1
    assert "lacks the columns user_id, ts, path, ext, action, commit" in result.output
