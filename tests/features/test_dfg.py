from features.dfg import dfg, directly_follows
from features.sessions import assign_sessions
from tests.features.frames import EVENTS, frame


def test_directly_follows_pairs_stay_within_sessions() -> None:
    got = directly_follows(assign_sessions(EVENTS)).collect()
    assert got.select("user_id", "source", "target", "delay_s").rows() == [
        (1, "modify:csv", "run:python", 600.0),
        (1, "run:python", "modify:csv", 1800.0),
        (2, "modify:md", "run:pandoc", 0.0),
    ]


def test_dfg_counts_and_median_delays_by_hand() -> None:
    # modify:csv -> run:python three times with delays 60, 120, 600 s: median 120; then run:python -> open:(none) once
    rows = [
        (1, 0, "modify", "a.csv", None), (1, 1, "run", "", "python"),
        (1, 100, "modify", "a.csv", None), (1, 102, "run", "", "python"),
        (2, 0, "modify", "b.csv", None), (2, 10, "run", "", "python"), (2, 11, "open", "x", None),
    ]  # fmt: skip
    got = dfg(assign_sessions(frame(rows))).collect()
    assert got.select("source", "target", "count", "median_delay_s").rows() == [
        ("modify:csv", "run:python", 3, 120.0),
        ("run:python", "open:(none)", 1, 60.0),
    ]
    per_user = dfg(assign_sessions(frame(rows)), per_user=True).collect()
    assert per_user.select("user_id", "source", "count").rows() == [
        (1, "modify:csv", 2), (2, "modify:csv", 1), (2, "run:python", 1),
    ]  # fmt: skip
