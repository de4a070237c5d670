from __future__ import annotations

from datetime import UTC, datetime

import polars as pl

from features.explore import daily_volume, top_values, user_activity, weekday_hour


def _events() -> pl.LazyFrame:
    rows = [
        (1, datetime(2026, 11, 2, 9, 5, tzinfo=UTC), "modify", "csv", None),  # a Monday
        (1, datetime(2026, 11, 2, 9, 40, tzinfo=UTC), "run", "", "python"),
        (2, datetime(2026, 11, 2, 23, 0, tzinfo=UTC), "modify", "csv", None),
        (2, datetime(2026, 11, 8, 14, 0, tzinfo=UTC), "create", "md", None),  # a Sunday
        (2, datetime(2026, 11, 8, 14, 1, tzinfo=UTC), "open", "", None),
    ]
    return pl.LazyFrame(rows, schema=["user_id", "ts", "kind", "ext", "tool"], orient="row")


def test_daily_volume_counts_events_and_people_per_day() -> None:
    days = daily_volume(_events())
    assert days.rows() == [(datetime(2026, 11, 2).date(), 3, 2), (datetime(2026, 11, 8).date(), 2, 1)]


def test_user_activity_is_busiest_first_with_days_and_runs() -> None:
    users = user_activity(_events())
    assert users.select("user_id", "events", "days", "runs").rows() == [(2, 3, 2, 0), (1, 2, 1, 1)]


def test_top_values_skips_empty_values_and_filters_runs() -> None:
    exts = top_values(_events(), "ext", runs=False)
    assert exts.rows() == [("csv", 2, 2 / 3), ("md", 1, 1 / 3)]
    assert top_values(_events(), "tool", runs=True).rows() == [("python", 1, 1.0)]


def test_weekday_hour_is_a_full_week_by_day_grid() -> None:
    grid = weekday_hour(_events())
    assert grid.shape == (7, 25)
    assert grid["weekday"].to_list() == ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
    assert grid.row(0, named=True)["9"] == 2
    assert grid.row(0, named=True)["23"] == 1
    assert grid.row(6, named=True)["14"] == 2
    assert grid.drop("weekday").sum_horizontal().sum() == 5
