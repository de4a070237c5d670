"""serving.recovery on personas mined in memory: every planted workflow found near the top, and a wrong one not."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import polars as pl

from features.synth import generate
from floyo.events import extension_of
from serving.candidates import mine_candidates, user_activity
from serving.recovery import matches, recovery
from serving.suggest import build_suggestions


def _lake_frame(data) -> tuple[pl.DataFrame, dict[str, str]]:
    names = {str(i): u.name for i, u in enumerate(data.users, 1)}
    rows = [
        {"user_id": i, "ts": datetime.fromisoformat(e["ts"]), "kind": e["kind"], "root": e["root"], "path": e["path"],
         "ext": extension_of(e["path"]) or "", "dest_path": e.get("dest_path"), "tool": e.get("tool"),
         "exit_code": e.get("exit_code"), "duration_ms": e.get("duration_ms"), "meta": None}
        for i, u in enumerate(data.users, 1) for e in u.events
    ]  # fmt: skip
    schema: dict[str, Any] = {"user_id": pl.Int64, "ts": pl.Datetime("us", "UTC"), "dest_path": pl.String, "tool": pl.String,
              "exit_code": pl.Int32, "duration_ms": pl.Int64, "meta": pl.String}  # fmt: skip
    return pl.DataFrame(rows, schema_overrides=schema, infer_schema_length=None).sort("user_id", "ts"), names


def test_every_planted_workflow_is_recovered_in_its_persons_top_5() -> None:
    data = generate(personas=5, days=21, seed=0, end=date(2026, 11, 1))
    events, names = _lake_frame(data)
    suggestions = build_suggestions(mine_candidates(events), user_activity(events))
    found = recovery(suggestions, data.truth, names)
    planted = sum(len(w["instances_by_user"]) for w in data.truth["workflows"])
    assert found.height == planted >= 11
    assert found["found"].all(), found.filter(~pl.col("found"))
    assert found.filter(pl.col("rank") > 5).is_empty()
    assert (found["minutes_per_week"] > 0).all()
    assert set(found["template"]) == {"run_on_save", "file_downloads", "convert_on_change"}


def test_a_suggestion_with_another_tool_is_not_the_planted_workflow() -> None:
    s = {"template": "run_on_save", "pattern": {"steps": [{"glob": "data/*.csv"}, {"tool": "python"}]}}
    assert matches(s, "csv_clean")
    assert not matches({**s, "pattern": {"steps": [{"glob": "data/*.csv"}, {"tool": "R"}]}}, "csv_clean")
    assert not matches({**s, "template": "convert_on_change"}, "csv_clean")
    assert not matches(s, "md_pandoc")
    nobody = recovery([], {"workflows": [{"name": "csv_clean", "instances_by_user": {"ann": 4}}]}, {})
    assert nobody.rows() == [("csv_clean", "ann", 4, False, None, None, None, None)]
