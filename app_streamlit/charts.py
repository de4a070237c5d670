"""The dashboard's Altair charts, built from the API's JSON."""

from __future__ import annotations

from typing import Any

import altair as alt
import pandas as pd

WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


def top_bars(rows: list[dict[str, Any]], what: str) -> alt.Chart:
    """Horizontal bars of ``[{"name", "events"}]``, largest first."""
    frame = pd.DataFrame(rows, columns=["name", "events"])
    chart: alt.Chart = (
        alt.Chart(frame, title=what)
        .mark_bar()
        .encode(
            x=alt.X("events:Q", title="events"), y=alt.Y("name:N", sort="-x", title=None), tooltip=["name", "events"]
        )
    )
    return chart


def heatmap(cells: list[dict[str, Any]]) -> alt.Chart:
    """Weekday x hour (UTC) counts, every cell drawn (empty ones at zero)."""
    counts = {(c["weekday"], c["hour"]): c["events"] for c in cells}
    frame = pd.DataFrame(
        [{"weekday": WEEKDAYS[d], "hour": h, "events": counts.get((d, h), 0)} for d in range(7) for h in range(24)]
    )
    chart: alt.Chart = (
        alt.Chart(frame, title="When you work (UTC)")
        .mark_rect()
        .encode(
            x=alt.X("hour:O", title="hour"),
            y=alt.Y("weekday:O", sort=WEEKDAYS, title=None),
            color=alt.Color("events:Q", scale=alt.Scale(scheme="blues")),
            tooltip=["weekday", "hour", "events"],
        )
        .properties(height=220)
    )
    return chart


def sessions_over_time(days: list[dict[str, Any]]) -> alt.Chart:
    """Sessions and active minutes per day."""
    frame = pd.DataFrame(days, columns=["day", "sessions", "events", "active_minutes"])
    frame["day"] = pd.to_datetime(frame["day"])
    chart: alt.Chart = (
        alt.Chart(frame, title="Active minutes per day")
        .mark_bar()
        .encode(
            x=alt.X("day:T", title=None),
            y=alt.Y("active_minutes:Q", title="active minutes"),
            tooltip=["day:T", "sessions", "events", "active_minutes"],
        )
        .properties(height=220)
    )
    return chart


def delays(rows: list[dict[str, Any]], upper: str = "90th percentile") -> alt.LayerChart:
    """Median delay (bar) before each of a workflow's steps, and an upper bound (tick: the window, or a 90th
    percentile) in ``p90_s``."""
    frame = pd.DataFrame(rows, columns=["step", "median_s", "p90_s"])
    bars = (
        alt.Chart(frame, title="Delay before each step (s)")
        .mark_bar()
        .encode(
            y=alt.Y("step:N", title=None),
            x=alt.X("median_s:Q", title=f"seconds (bar: median, tick: {upper})"),
            tooltip=["step", "median_s", "p90_s"],
        )
    )
    ticks = alt.Chart(frame).mark_tick(color="red", thickness=2).encode(y="step:N", x="p90_s:Q")
    chart: alt.LayerChart = bars + ticks
    return chart


def metrics_by_version(rows: list[dict[str, Any]]) -> alt.Chart:
    """Every metric of every version side by side (``[{"version", "metric", "value"}]``)."""
    frame = pd.DataFrame(rows, columns=["version", "metric", "value"])
    chart: alt.Chart = (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=alt.X("metric:N", title=None),
            xOffset="version:N",
            y=alt.Y("value:Q", title=None),
            color=alt.Color("version:N"),
            tooltip=["version", "metric", "value"],
        )
        .properties(height=220)
    )
    return chart
