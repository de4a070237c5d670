"""Stable session keys: rules keep them as evidence, and they still point at the same events after a rebuild."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from features import lake
from features.build import build_features
from features.sequences import sequences
from features.sessions import KEY_SQL, assign_sessions, parse_session_key, session_events, sessions
from features.transactions import transactions
from floyo.errors import InvalidInput
from ingest.lake_export import export_lake
from models.lakedata import training_data
from models.rules import RuleLimits, mine_rules
from tests.features.frames import EVENTS, T0, frame
from tests.features.helpers import days_ago, events_at, lake_db
from tests.utils.factories import make_device


def test_the_key_is_the_user_and_the_first_event_time_in_every_table() -> None:
    assigned = assign_sessions(EVENTS)
    keys = sessions(EVENTS).collect().sort("session_id")["session_key"].to_list()
    assert keys == ["1@2026-11-23T09:00:00.000000Z", "1@2026-11-23T10:11:00.000000Z", "2@2026-11-23T09:05:00.000000Z"]
    assert transactions(assigned).collect().sort("session_id")["session_key"].to_list() == keys
    assert sequences(assigned).collect().sort("session_id")["session_key"].to_list() == keys
    assert parse_session_key(keys[1]) == (1, T0 + timedelta(minutes=71))


def test_duckdb_computes_the_same_keys(tmp_path: Path) -> None:
    (tmp_path / "sessions").mkdir()
    sessions(EVENTS).collect().write_parquet(tmp_path / "sessions" / "sessions.parquet")
    pairs = lake.sql(f"SELECT session_key, {KEY_SQL} FROM sessions", path=tmp_path).fetchall()
    assert len(pairs) == 3
    assert all(polars_key == duckdb_key for polars_key, duckdb_key in pairs)


@pytest.mark.parametrize("bad", ["", "17", "x@2026-11-23T09:00:00.000000Z", "1@yesterday", "1@2026-11-23T09:00:00"])
def test_a_malformed_key_is_refused(bad: str) -> None:
    with pytest.raises(InvalidInput):
        parse_session_key(bad)
    with pytest.raises(InvalidInput):
        session_events(EVENTS, [bad]).collect()


def test_appending_events_renumbers_session_id_but_keeps_the_keys() -> None:
    before = sessions(EVENTS).collect()
    # user 0 sorts before everyone, and user 1 works again later
    more = pl.concat([EVENTS, frame([(0, -60, "open", "a.txt", None), (1, 500, "open", "b.txt", None)])])
    after = sessions(more).collect()
    joined = before.join(after, on="session_key", suffix="_after")
    assert joined.height == before.height
    assert (joined["session_id"] != joined["session_id_after"]).all()  # what the old evidence pointed at moved
    assert joined["n_events"].to_list() == joined["n_events_after"].to_list()


def test_a_late_earlier_event_changes_only_its_own_session_key() -> None:
    before = set(sessions(EVENTS).collect()["session_key"])
    late = pl.concat([EVENTS, frame([(1, -5, "open", "early.txt", None)])])  # joins user 1's first session
    after = set(sessions(late).collect()["session_key"])
    assert before - after == {"1@2026-11-23T09:00:00.000000Z"}
    assert after - before == {"1@2026-11-23T08:55:00.000000Z"}


def _evidence_events(lake_path: Path, keys: list[str]) -> dict[str, set[str]]:
    found = session_events(lake.events(path=lake_path), keys).collect()
    return {k: set(ids) for k, ids in found.group_by("session_key").agg("event_id").iter_rows()}


def _session_days(start: datetime, n: int, *, tool: str = "python") -> list[dict[str, object]]:
    """``n`` sessions two hours apart: modify a csv, then run ``tool`` a minute later."""
    events: list[dict[str, object]] = []
    for i in range(n):
        at = start + timedelta(hours=2 * i)
        events += events_at(at, 1, path=f"data/{i}.csv")
        events += events_at(at + timedelta(minutes=1), 1, kind="run", path="", tool=tool)
    return events


def test_rule_evidence_resolves_to_the_same_events_after_appending_and_rebuilding(
    database_url: str, tmp_path: Path
) -> None:
    with lake_db(database_url, tmp_path / "data") as ldb:
        early_user = ldb.device  # created first: a lower user_id, so its sessions sort first
        user = make_device(ldb.engine)
        ldb.ingest(_session_days(days_ago(6), 24), device=user)
        export_lake(ldb.engine, ldb.settings)
        lake_path = ldb.settings.lake_path
        build_features(lake_path)
        old = training_data(ldb.settings).transactions
        rules = mine_rules(old.select("transaction_id", "item"), limits=RuleLimits(min_support=0.1)).rules
        rule = rules.filter(pl.col("antecedents") == ["ext:csv"], pl.col("consequents") == ["run:python"]).row(
            0, named=True
        )
        evidence: list[str] = rule["evidence"]
        assert len(evidence) == 10
        assert all(parse_session_key(k)[0] == user.user_id for k in evidence)
        resolved = _evidence_events(lake_path, evidence)
        assert set(resolved) == set(evidence)
        assert all(len(ids) == 2 for ids in resolved.values())
        old_ids = dict(lake.table("sessions", path=lake_path).select("session_key", "session_id").collect().iter_rows())

        ldb.ingest(_session_days(days_ago(2), 5), device=user)  # newer sessions of the same user
        ldb.ingest(_session_days(days_ago(9), 8, tool="make"), device=early_user)  # another user, earlier
        export_lake(ldb.engine, ldb.settings)
        build_features(lake_path)

        assert _evidence_events(lake_path, evidence) == resolved
        new_ids = dict(lake.table("sessions", path=lake_path).select("session_key", "session_id").collect().iter_rows())
        assert all(new_ids[k] != old_ids[k] for k in evidence)  # the running count moved under every one of them

        # the training data names the same sessions the same way, with the same items
        def items(frame: pl.DataFrame) -> dict[str, list[str]]:
            kept = frame.filter(pl.col("transaction_id").is_in(evidence))
            return dict(kept.group_by("transaction_id").agg(pl.col("item").sort()).iter_rows())

        assert items(training_data(ldb.settings).transactions) == items(old)
