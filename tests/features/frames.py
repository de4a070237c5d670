"""Tiny hand-built event frames for the transform tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # a Monday


def frame(rows: list[tuple[Any, ...]]) -> pl.LazyFrame:
    """Rows of (user_id, minutes after T0, kind, path, tool); seq is the row order, root 'r', ext from the path."""
    data = []
    for seq, (user, minutes, kind, path, tool) in enumerate(rows, start=1):
        ext = path.rsplit(".", 1)[1].lower() if "." in path.rsplit("/", 1)[-1] else ""
        data.append(
            {"seq": seq, "user_id": user, "ts": T0 + timedelta(minutes=minutes), "kind": kind, "root": "r",
             "path": path, "ext": ext, "tool": tool}
        )  # fmt: skip
    schema: dict[str, Any] = {
        "seq": pl.Int64, "user_id": pl.Int64, "ts": pl.Datetime("us", "UTC"), "kind": pl.String,
        "root": pl.String, "path": pl.String, "ext": pl.String, "tool": pl.String,
    }  # fmt: skip
    return pl.LazyFrame(data, schema=schema)


# user 1: a session of 3 events (0, 10, 40 min: gaps 10 and 30 = not longer than 30), then one at 71 min (gap 31)
# user 2: two events at the same minute, out of seq order in the input
EVENTS = frame(
    [
        (1, 0, "modify", "data/a.csv", None),
        (2, 5, "modify", "notes/x.md", None),
        (1, 10, "run", "", "python"),
        (1, 40, "modify", "data/b.CSV", None),
        (1, 71, "open", "README", None),
        (2, 5, "run", "", "pandoc"),
    ]
)
