"""`floyo patterns` and `floyo models list` read what the job wrote to PostgreSQL, in human words: permutations
dropped, no session keys, a user's own rules before a capped few global ones, too little activity explained."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from floyo.cli import app
from floyo.db import reset_engine
from floyo.db.engine import psycopg_conninfo
from floyo.db.scoping import as_request_role, scope_to_user
from floyo.settings import get_settings
from jobs.pipeline import run_pipeline
from models.wording import drop_near_duplicates, item_phrase, rule_sentence, step_phrase
from tests.features.helpers import LakeDB
from tests.jobs.helpers import job_env
from tests.utils.db import migrated_scratch_database
from tests.utils.factories import make_device

REPO = Path(__file__).resolve().parents[2]


def _rule(ante: list[str], cons: list[str], count: int, confidence: float, lift: float = 2.0) -> dict[str, Any]:
    return {"antecedents": ante, "consequents": cons, "count": count, "confidence": confidence, "lift": lift}


def test_permutations_of_one_item_set_keep_the_most_confident_and_equally_frequent_subsets_go() -> None:
    rules = [
        _rule(["a", "b"], ["c"], 10, 0.8),
        _rule(["a", "c"], ["b"], 10, 0.9),  # the same three items: only this one stays
        _rule(["b", "c"], ["a"], 10, 0.7),
        _rule(["a"], ["b"], 10, 0.95),  # inside {a, b, c} with the same 10 sessions: says nothing more
        _rule(["a"], ["d"], 12, 0.6),
        _rule(["d"], ["a"], 12, 0.6, lift=2.0),  # a tie: the first of the two stays
        _rule(["b"], ["c"], 14, 0.9),  # inside {a, b, c} but more frequent: a finding of its own
    ]
    kept = drop_near_duplicates(rules)
    assert [(r["antecedents"], r["consequents"]) for r in kept] == [(["a", "c"], ["b"]), (["a"], ["d"]), (["b"], ["c"])]


def test_items_and_steps_read_as_words() -> None:
    assert rule_sentence(["ext:tex", "dir:thesis"], ["run:latexmk"]) == (
        "When you work in thesis/ and touch .tex files, you also run latexmk"
    )
    assert item_phrase("kind:modify") == "modify files"
    assert step_phrase("modify:py") == "modify a .py file"
    assert step_phrase("create:(none)") == "create a file without an extension"


@pytest.fixture
def trained(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LakeDB]:
    """Three personas over 8 days, the job run once (personal rules from 5 sessions on), then the MLflow store
    deleted: whatever the commands answer afterwards comes from PostgreSQL."""
    with job_env(database_url, tmp_path, monkeypatch) as db:
        monkeypatch.setenv("FLOYO_RULES_USER_MIN_TRANSACTIONS", "5")
        get_settings.cache_clear()
        result = run_pipeline(get_settings(), trigger="test")
        assert result.status == "succeeded", result
        assert "patterns" in result.steps
        assert result.summary["patterns"]["models"] == 4
        (tmp_path / "mlflow.db").unlink()
        shutil.rmtree(tmp_path / "artifacts")
        yield db
        assert not (tmp_path / "mlflow.db").exists()  # no command opened (and so re-created) an MLflow store


def _cli(*args: str) -> Any:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout) if "--json" in args else result.stdout


def _persona_with_own_rules(db: LakeDB) -> tuple[int, str]:
    with db.engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT u.id, u.name FROM patterns p JOIN users u ON u.id = p.user_id "
                "WHERE p.family = 'rules' GROUP BY u.id, u.name ORDER BY count(*) DESC LIMIT 1"
            )
        ).one()
    return int(row[0]), str(row[1])


def test_the_commands_read_postgresql_with_the_mlflow_store_gone(trained: LakeDB) -> None:
    models = _cli("models", "list", "--json")
    assert {(m["name"], m["version"], tuple(m["aliases"])) for m in models} == {
        (name, "1", ("champion",)) for name in ("floyo-cochange", "floyo-next-action", "floyo-rules", "floyo-workflows")
    }
    assert all(m["metrics"]["mrr"] >= 0 for m in models)

    _, name = _persona_with_own_rules(trained)
    found = _cli("patterns", "rules", "--user", name, "--json", "--limit", "3")
    scopes = [r["scope"] for r in found["rules"]]
    own = scopes.count("user")
    assert own > 0
    assert scopes == ["user"] * own + ["global"] * (len(scopes) - own)
    assert 0 < len(scopes) - own <= 3  # global ones capped
    assert "activity" not in found
    first = found["rules"][0]
    assert first["text"].startswith("When you ")
    assert first["sessions"] >= 1
    assert first["examples"]
    assert all(e["at"][:2] == "20" for e in first["examples"])
    assert any(e["files"] for e in first["examples"])
    dumped = json.dumps(found)
    assert "@20" not in dumped
    assert "evidence" not in dumped
    global_rows = [r for r in found["rules"] if r["scope"] == "global"]
    assert all(r["examples"] == [] for r in global_rows)  # everyone's rules carry nobody's times or files

    items = [frozenset(r["if"] + r["then"]) for r in found["rules"] if r["scope"] == "user"]
    assert len(items) == len(set(items))  # no two permutations of one item set

    text_out = _cli("patterns", "rules", "--user", name, "--limit", "2")
    lines = text_out.splitlines()
    assert lines[own].startswith("[global] When you ")
    assert not lines[0].startswith("[global]")
    assert lines[-1].startswith("(and ")
    assert "more global rules" in lines[-1]

    workflows = _cli("patterns", "workflows", "--json")["workflows"]
    assert workflows
    assert all(w["text"].startswith("You ") and w["occurrences"] >= 10 for w in workflows)
    assert "synth-" in _cli("patterns", "workflows")  # people by name


def test_a_user_with_too_little_activity_is_told_how_much_is_needed(trained: LakeDB) -> None:
    newcomer = make_device(trained.engine)
    found = _cli("patterns", "rules", "--user", newcomer.user, "--json", "--limit", "0")
    assert found["rules"] == []
    assert found["activity"]["message"] == (
        f"{newcomer.user} has no activity recorded at the last refresh: personal rules need at least 5 work "
        "sessions (a session ends after 30 minutes without an event)"
    )
    with trained.engine.begin() as conn:  # what the refresh saw of a person with 2 sessions
        conn.execute(
            text("INSERT INTO pattern_activity (user_id, events, sessions, days, needed) VALUES (:u, 7, 2, 2, :n)"),
            {"u": newcomer.user_id, "n": json.dumps({"rules": {"sessions": 5}})},
        )
    said = _cli("patterns", "rules", "--user", str(newcomer.user_id), "--limit", "0")
    assert said.splitlines()[0] == (
        f"{newcomer.user} has 2 work sessions (7 events on 2 days); personal rules need at least 5 sessions "
        "(3 more to go)"
    )
    workflows = _cli("patterns", "workflows", "--user", newcomer.user)
    assert "7 events on 2 days; a workflow needs the same steps repeated at least 10 times" in workflows
    missing = CliRunner().invoke(app, ["patterns", "rules", "--user", "nobody-by-that-name"])
    assert missing.exit_code == 1
    assert "no user 'nobody-by-that-name'" in missing.output


def test_the_cli_starts_without_mlflow_polars_or_sklearn(trained: LakeDB) -> None:
    """Import time is part of answering in human time: reading patterns loads none of the heavy libraries."""
    probe = (
        "import sys\nfrom typer.testing import CliRunner\nfrom floyo.cli import app\n"
        "for args in (['patterns', 'rules', '--json'], ['patterns', 'workflows'], ['models', 'list']):\n"
        "    r = CliRunner().invoke(app, args)\n    assert r.exit_code == 0, r.output\n"
        "print(sorted(m for m in ('mlflow', 'polars', 'sklearn', 'pandas') if m in sys.modules))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_the_request_role_sees_its_own_and_the_global_patterns_only(trained: LakeDB) -> None:
    owner, _ = _persona_with_own_rules(trained)
    with trained.engine.connect() as conn:
        rows = conn.execute(
            text("SELECT coalesce(user_id, 0), count(*) FROM patterns WHERE family = 'rules' GROUP BY 1")
        )
        counts = {int(u): int(n) for u, n in rows}
    other = make_device(trained.engine)
    with psycopg.connect(**psycopg_conninfo(trained.url)) as c:
        as_request_role(c)  # no user yet: not even the global rows
        assert c.execute("SELECT count(*) FROM patterns").fetchone() == (0,)
        c.rollback()
        scope_to_user(c, owner)
        seen = dict(c.execute("SELECT coalesce(user_id, 0), count(*) FROM patterns WHERE family = 'rules' GROUP BY 1"))
        assert seen == {0: counts[0], owner: counts[owner]}
        assert c.execute("SELECT user_id FROM pattern_activity").fetchall() == [(owner,)]
        c.rollback()
        scope_to_user(c, other.user_id)
        assert c.execute("SELECT count(*) FROM patterns WHERE user_id IS NOT NULL").fetchone() == (0,)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            c.execute("SELECT count(*) FROM model_versions")


def test_before_any_refresh_the_commands_say_what_to_run(
    database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with migrated_scratch_database(database_url) as url:  # never refreshed (the shared one may hold model rows)
        monkeypatch.setenv("FLOYO_DATABASE_URL", url)
        monkeypatch.setenv("FLOYO_DATA_DIR", str(tmp_path))
        get_settings.cache_clear()
        reset_engine()
        try:
            for args in (["patterns", "rules"], ["patterns", "workflows", "--user", "x"], ["models", "list"]):
                result = CliRunner().invoke(app, args)
                assert result.exit_code == 1, result.output
                assert "`floyo patterns refresh`" in result.output
        finally:
            reset_engine()
            get_settings.cache_clear()
