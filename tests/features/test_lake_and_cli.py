"""The lake module, the CLI commands and the demo's pipeline, end to end on a real database and real files."""

from __future__ import annotations

import csv
import gzip
from collections.abc import Iterator
from pathlib import Path

import orjson
import polars as pl
import pytest
from typer.testing import CliRunner

from features import lake
from floyo.db import reset_engine
from floyo.settings import get_settings
from jobs.refresh import export_and_build
from tests.features.helpers import LakeDB, days_ago, events_at, lake_db, lake_seqs


@pytest.fixture
def ldb(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LakeDB]:
    with lake_db(database_url, tmp_path / "data") as db:
        for key, value in db.env.items():
            monkeypatch.setenv(key, value)
        monkeypatch.delenv("FLOYO_LAKE_DIR", raising=False)
        get_settings.cache_clear()
        reset_engine()
        yield db
        reset_engine()
        get_settings.cache_clear()


def test_empty_lake_reads_as_empty(tmp_path: Path) -> None:
    assert lake.events(path=tmp_path / "nothing").collect().height == 0
    assert lake.sql("select count(*) from events", path=tmp_path / "nothing").fetchone() == (0,)


def test_pipeline_then_lake_reads_with_polars_and_duckdb(ldb: LakeDB) -> None:
    ldb.ingest(events_at(days_ago(3), 20, path="data/x.csv"))
    ldb.ingest(events_at(days_ago(1), 5, kind="run", path="", tool="pytest"))
    summary = export_and_build(ldb.settings, engine=ldb.engine)
    assert summary["export"]["exported"] == 25
    assert summary["features"]["rows"]["profiles"] == 1
    orjson.dumps(summary)  # the demo prints or logs it

    frame = lake.events(ldb.settings).collect()
    assert sorted(frame["seq"].to_list()) == ldb.db_seqs()
    assert frame.schema["date"] == pl.Date
    by_kind = lake.sql("select kind, count(*) as n from events group by kind order by kind", ldb.settings).fetchall()
    assert by_kind == [("modify", 20), ("run", 5)]
    sessions = lake.sql("select sum(n_events) from sessions", ldb.settings).fetchone()
    assert sessions == (25,)
    assert lake.table("dfg", ldb.settings).collect().height >= 1
    settings = dict(lake.connect(ldb.settings).execute(
        "select name, value from duckdb_settings() where name like 'auto%_known_extensions'"
    ).fetchall())  # fmt: skip
    assert settings == {"autoinstall_known_extensions": "false", "autoload_known_extensions": "false"}


def test_cli_demo_data_export_and_features_build(ldb: LakeDB) -> None:
    from floyo.cli import app

    runner = CliRunner()
    stored = runner.invoke(app, ["demo-data", "--personas", "3", "--days", "4", "--seed", "5"])
    assert stored.exit_code == 0, stored.output
    assert "0 rejected" in stored.output
    truth = ldb.settings.data_dir / "synth" / "truth-seed5-3p-4d.json"
    assert orjson.loads(truth.read_bytes())["params"]["personas"] == 3
    n = len(ldb.db_seqs()) - 0
    assert n == orjson.loads(truth.read_bytes())["n_events"]
    again = runner.invoke(app, ["demo-data", "--personas", "3", "--days", "4", "--seed", "5"])
    assert f"{n} duplicate" in again.output  # same seed, same ids: stored once

    exported = runner.invoke(app, ["export"])
    assert exported.exit_code == 0, exported.output
    assert f"exported {n} events" in exported.output
    assert lake_seqs(ldb.settings.lake_path) == ldb.db_seqs()
    built = runner.invoke(app, ["features", "build", "--idle-gap-minutes", "15"])
    assert built.exit_code == 0, built.output
    for name in lake.FEATURE_TABLES:
        assert (ldb.settings.lake_path / name / f"{name}.parquet").exists()


def test_cli_demo_data_writes_the_shared_csv_format(tmp_path: Path) -> None:
    from floyo.cli import app
    from ingest.csvlog import CSV_COLUMNS, read_log

    out = tmp_path / "synth.csv.gz"
    result = CliRunner().invoke(app, ["demo-data", "--personas", "2", "--days", "3", "--out", str(out)])
    assert result.exit_code == 0, result.output
    with gzip.open(out, "rt") as fh:
        header = next(csv.reader(fh))
    assert tuple(header[: len(CSV_COLUMNS)]) == CSV_COLUMNS
    truth = orjson.loads((tmp_path / "synth.truth.json").read_bytes())
    rows = list(read_log(out))
    assert len(rows) == truth["n_events"]
    assert {r.event["kind"] for r in rows} <= {"create", "modify", "delete", "move", "open", "run"}


def test_export_fails_with_one_line_when_the_database_is_down(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from floyo.cli import app

    monkeypatch.setenv("FLOYO_DATABASE_URL", "postgresql://postgres@127.0.0.1:1/nowhere")
    monkeypatch.setenv("FLOYO_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    reset_engine()
    try:
        result = CliRunner().invoke(app, ["export"])
    finally:
        reset_engine()
        get_settings.cache_clear()
    assert result.exit_code == 1
    assert result.output.strip().startswith("error: the database is unreachable")
    assert len(result.output.strip().splitlines()) == 1
