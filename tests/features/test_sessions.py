from datetime import timedelta

import polars as pl

from features.sessions import assign_sessions, sessions
from tests.features.frames import EVENTS, T0


def test_sessions_split_strictly_after_the_idle_gap() -> None:
    got = assign_sessions(EVENTS).collect()
    assert got.select("user_id", "seq", "session_id").rows() == [
        (1, 1, 0), (1, 3, 0), (1, 4, 0), (1, 5, 1),
        (2, 2, 2), (2, 6, 2),
    ]  # fmt: skip


def test_session_table_by_hand() -> None:
    got = sessions(EVENTS).collect().sort("session_id")
    assert got["user_id"].to_list() == [1, 1, 2]
    assert got["n_events"].to_list() == [3, 1, 2]
    assert got["n_paths"].to_list() == [2, 1, 1]
    assert got["n_runs"].to_list() == [1, 0, 1]
    assert got["duration_s"].to_list() == [2400.0, 0.0, 0.0]
    assert got["start"].to_list()[1] == T0 + timedelta(minutes=71)


def test_idle_gap_is_configurable() -> None:
    short = assign_sessions(EVENTS, idle_gap=timedelta(minutes=10)).collect()
    assert short.filter(pl.col("user_id") == 1)["session_id"].to_list() == [0, 0, 1, 2]
    long = sessions(EVENTS, idle_gap=timedelta(hours=2)).collect()
    assert long.height == 2


def test_empty_input_gives_empty_sessions() -> None:
    assert sessions(EVENTS.clear()).collect().height == 0
