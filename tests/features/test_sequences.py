from features.sequences import sequences
from features.sessions import assign_sessions
from tests.features.frames import EVENTS


def test_sequences_with_deltas_by_hand() -> None:
    got = sequences(assign_sessions(EVENTS)).collect().sort("session_id")
    assert got["actions"].to_list() == [
        ["modify:csv", "run:python", "modify:csv"],
        ["open:(none)"],
        ["modify:md", "run:pandoc"],  # same timestamp: seq breaks the tie
    ]
    assert got["deltas_s"].to_list() == [[0.0, 600.0, 1800.0], [0.0], [0.0, 0.0]]
    assert got["length"].to_list() == [3, 1, 2]
