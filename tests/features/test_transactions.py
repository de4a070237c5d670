from features.sessions import assign_sessions
from features.transactions import transactions
from tests.features.frames import EVENTS


def test_transaction_items_by_hand() -> None:
    got = transactions(assign_sessions(EVENTS)).collect().sort("session_id")
    assert got["items"].to_list() == [
        ["dir:data", "ext:csv", "kind:modify", "kind:run", "run:python"],
        ["kind:open"],  # README: no extension, no folder
        ["dir:notes", "ext:md", "kind:modify", "kind:run", "run:pandoc"],
    ]
    assert got["n_items"].to_list() == [5, 1, 5]
    assert got["user_id"].to_list() == [1, 1, 2]
