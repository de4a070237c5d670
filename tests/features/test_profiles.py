from features.profiles import HOURS_OF_WEEK, profiles
from tests.features.frames import EVENTS, frame


def test_profiles_by_hand() -> None:
    got = {row["user_id"]: row for row in profiles(EVENTS).collect().to_dicts()}
    one, two = got[1], got[2]
    assert one["n_events"] == 4
    assert one["active_days"] == 1
    assert one["events_per_active_day"] == 4.0
    assert len(one["active_hours"]) == HOURS_OF_WEEK
    # Monday 09:00, 09:10, 09:40 and 10:11 UTC
    assert one["active_hours"][9] == 3
    assert one["active_hours"][10] == 1
    assert sum(one["active_hours"]) == 4
    assert one["top_exts"] == ["csv"]
    assert one["top_tools"] == ["python"]
    assert one["top_roots"] == ["r"]
    assert two["top_exts"] == ["md"]
    assert two["top_tools"] == ["pandoc"]


def test_top_lists_rank_by_count_then_name_and_cut_at_five() -> None:
    rows = [(1, i, "modify", f"f{i}.{ext}", None) for i, ext in enumerate(["b", "a", "c", "c", "d", "e", "f", "g"])]
    got = profiles(frame(rows)).collect().row(0, named=True)
    assert got["top_exts"] == ["c", "a", "b", "d", "e"]
    assert got["top_tools"] == []
    assert got["active_hours"][24 * 0 + 9] == 8
