"""Every transform on the real flask log (9,246 events, 869 authors), checked against independent computations."""

from __future__ import annotations

import duckdb
import polars as pl
import pytest

from features.build import feature_tables
from features.logs import read_csv_log
from tests.features.helpers import FLASK_LOG

SESSIONS_SQL = """
WITH gaps AS (
  SELECT user_id, ts, seq,
         CASE WHEN lag(ts) OVER w IS NULL OR ts - lag(ts) OVER w > INTERVAL 30 MINUTE THEN 1 ELSE 0 END AS starts
  FROM ev WINDOW w AS (PARTITION BY user_id ORDER BY ts, seq)
)
SELECT user_id, count(*) AS sessions FROM gaps WHERE starts = 1 GROUP BY user_id
"""


@pytest.fixture(scope="module")
def tables() -> dict[str, pl.DataFrame]:
    events = read_csv_log(FLASK_LOG)
    lazy = feature_tables(events)
    frames = dict(zip(lazy, pl.collect_all(list(lazy.values())), strict=True))
    frames["events"] = events.collect()
    return frames


def test_flask_log_shape(tables: dict[str, pl.DataFrame]) -> None:
    assert tables["events"].height == 9246
    assert tables["profiles"].height == tables["events"]["user_id"].n_unique() == 869


def test_sessions_match_an_independent_duckdb_window_query(tables: dict[str, pl.DataFrame]) -> None:
    conn = duckdb.connect()
    conn.register("ev", tables["events"].select("user_id", "ts", "seq").to_arrow())
    expected = conn.sql(SESSIONS_SQL).pl().sort("user_id")
    got = tables["sessions"].group_by("user_id").agg(sessions=pl.len()).sort("user_id")
    assert got["sessions"].cast(pl.Int64).to_list() == expected["sessions"].cast(pl.Int64).to_list()
    assert tables["sessions"]["n_events"].sum() == 9246


def test_sequences_transactions_and_dfg_are_consistent(tables: dict[str, pl.DataFrame]) -> None:
    n_sessions = tables["sessions"].height
    seqs, tx, dfg = tables["sequences"], tables["transactions"], tables["dfg"]
    assert seqs.height == tx.height == n_sessions
    assert seqs["length"].sum() == 9246
    deltas = seqs["deltas_s"].explode(empty_as_null=True).to_list()
    assert min(deltas) == 0
    assert max(deltas) <= 1800
    assert dfg["count"].sum() == 9246 - n_sessions  # one edge per consecutive pair inside a session
    assert tx["items"].list.eval(pl.element().str.starts_with("kind:")).list.any().all()
    top = dfg.row(0, named=True)
    assert top["source"] == "modify:py"
    assert top["target"] == "modify:py"
    assert tables["profiles"]["n_events"].sum() == 9246
    assert "py" in tables["profiles"].sort("n_events", descending=True)["top_exts"][0].to_list()
