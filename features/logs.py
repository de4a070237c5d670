"""Read a CSV activity log (the format of ``docs/data.md``) as an events LazyFrame, without the database."""

from __future__ import annotations

from pathlib import Path

import polars as pl

ACTION_TO_KIND = {
    "created": "create", "modified": "modify", "deleted": "delete", "renamed": "move",
    "copied": "create", "typechanged": "modify",
}  # fmt: skip


def read_csv_log(path: Path, *, root: str = "repo") -> pl.LazyFrame:
    """The log's rows as events: ``seq`` = file order, ``user_id`` = the author's 12-hex id as an integer."""
    raw = pl.read_csv(path, schema_overrides={"user_id": pl.String, "ext": pl.String, "commit": pl.String})
    optional = {c: pl.col(c) for c in ("kind", "tool", "dest_path", "root") if c in raw.columns}
    kind = optional.get("kind", pl.col("action").replace_strict(ACTION_TO_KIND, default=pl.col("action")))
    return raw.lazy().select(
        seq=pl.int_range(1, pl.len() + 1, dtype=pl.Int64),
        event_id=pl.col("event_id"),
        user_id=pl.col("user_id").str.to_integer(base=16).cast(pl.Int64),
        ts=pl.col("ts").str.to_datetime(time_unit="us", time_zone="UTC"),
        kind=kind,
        root=optional.get("root", pl.lit(root)),
        path=pl.col("path").fill_null(""),
        ext=pl.col("ext").fill_null(""),
        tool=optional.get("tool", pl.lit(None, dtype=pl.String)),
        commit=pl.col("commit"),
    )
