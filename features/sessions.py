"""Sessions: a user's events split wherever the idle gap between two events exceeds a threshold.

Two ids per session. ``session_id`` is a dense integer numbered over the whole frame: cheap to group and join on
inside one build, but appending events renumbers it, so it is never kept anywhere. ``session_key`` is stable:
``<user_id>@<first event's ts, UTC, to the µs>`` (``42@2026-11-23T09:00:00.000000Z``), the same in every rebuild
while that session's events stay the same; rules store it as evidence. It is unique (two sessions of one user cannot
start at the same instant: a zero gap never splits) and resolvable: ``session_events`` gives back its events.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import polars as pl

from floyo.errors import InvalidInput

DEFAULT_IDLE_GAP = timedelta(minutes=30)
KEY_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S%.6fZ"  # chrono's format
# the same key in DuckDB over a per-session relation (``lake.sql``: ``SELECT {KEY_SQL} FROM sessions``)
KEY_SQL = "user_id::VARCHAR || '@' || strftime(start::TIMESTAMP, '%Y-%m-%dT%H:%M:%S.%fZ')"


def assign_sessions(events: pl.LazyFrame, *, idle_gap: timedelta = DEFAULT_IDLE_GAP) -> pl.LazyFrame:
    """Events sorted by (user_id, ts, seq) with ``session_id``: a gap strictly longer than ``idle_gap`` starts one."""
    ordered = events.sort(["user_id", "ts", "seq"])
    new_user = pl.col("user_id") != pl.col("user_id").shift(1)
    long_gap = (pl.col("ts") - pl.col("ts").shift(1)) > pl.lit(idle_gap)
    starts = (new_user | long_gap).fill_null(True)
    return ordered.with_columns(session_id=starts.cast(pl.Int64).cum_sum() - 1)


def session_key(user_id: pl.Expr | None = None, start: pl.Expr | None = None) -> pl.Expr:
    """The stable key of a session from its user and its first event's time (default: the ``user_id`` and
    ``start`` columns of a per-session frame)."""
    user = pl.col("user_id") if user_id is None else user_id
    first = pl.col("start") if start is None else start
    return pl.format("{}@{}", user, first.dt.convert_time_zone("UTC").dt.strftime(KEY_TIME_FORMAT))


def parse_session_key(key: str) -> tuple[int, datetime]:
    """(user_id, first event time) of a session key; InvalidInput when it is not one."""
    user, at, when = key.partition("@")
    try:
        if not at or not when.endswith("Z"):
            raise ValueError(key)
        return int(user), datetime.strptime(when[:-1], "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=UTC)
    except ValueError:
        raise InvalidInput("invalid_session_key", f"{key!r} is not a session key (user_id@time)") from None


def keyed(per_session: pl.LazyFrame) -> pl.LazyFrame:
    """A per-session frame (``session_id, user_id, start, ...``) with ``session_key`` after ``session_id``."""
    return per_session.select("session_id", session_key().alias("session_key"), pl.all().exclude("session_id"))


def session_table(assigned: pl.LazyFrame) -> pl.LazyFrame:
    """One row per session: keys, user, start, end, duration, events, distinct paths and tools."""
    return keyed(
        assigned.group_by("session_id", maintain_order=True)
        .agg(
            pl.col("user_id").first(),
            start=pl.col("ts").min(),
            end=pl.col("ts").max(),
            n_events=pl.len(),
            n_paths=pl.col("path").filter(pl.col("path") != "").n_unique(),
            n_runs=(pl.col("kind") == "run").sum(),
        )
        .with_columns(duration_s=(pl.col("end") - pl.col("start")).dt.total_microseconds() / 1e6)
    )


def sessions(events: pl.LazyFrame, *, idle_gap: timedelta = DEFAULT_IDLE_GAP) -> pl.LazyFrame:
    """The session table of raw events."""
    return session_table(assign_sessions(events, idle_gap=idle_gap))


def session_events(
    events: pl.LazyFrame, keys: Iterable[str], *, idle_gap: timedelta = DEFAULT_IDLE_GAP
) -> pl.LazyFrame:
    """The events of the sessions with these keys (what a rule's evidence points at), with their ``session_key``."""
    wanted = sorted(set(keys))
    for key in wanted:
        parse_session_key(key)  # a malformed key is an error, not an empty answer
    assigned = assign_sessions(events, idle_gap=idle_gap)
    heads = keyed(assigned.group_by("session_id").agg(pl.col("user_id").first(), start=pl.col("ts").min()))
    found = heads.filter(pl.col("session_key").is_in(wanted)).select("session_id", "session_key")
    return assigned.join(found, on="session_id").drop("session_id")
