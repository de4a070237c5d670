"""Read an event log in the CSV format of ``docs/data.md`` into the plain frame the models take."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from floyo.errors import InvalidInput

#: the log's ``action`` mapped to Floyo's event kinds (DESIGN.md)
ACTION_TO_KIND = {
    "created": "create",
    "modified": "modify",
    "deleted": "delete",
    "renamed": "move",
    "copied": "create",
    "typechanged": "modify",
}
REQUIRED = ("user_id", "ts", "path", "ext", "action", "commit")
NO_EXT = "(none)"


def read_event_log(path: Path | str) -> pl.DataFrame:
    """Events in file order: ``user_id, ts, kind, path, ext, tool, group`` (``group`` is the commit)."""
    try:
        raw = pl.read_csv(path, infer_schema=False, empty_string_is_null=False)
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise InvalidInput("bad_event_log", f"cannot read {path}: {exc}") from None
    missing = [c for c in REQUIRED if c not in raw.columns]
    if missing:
        raise InvalidInput("bad_event_log", f"{path} lacks the columns {', '.join(missing)}")
    return raw.select(
        pl.col("user_id"),
        pl.col("ts").str.to_datetime(time_zone="UTC"),
        pl.col("action").replace_strict(ACTION_TO_KIND, default="modify").alias("kind"),
        pl.col("path"),
        pl.col("ext").str.to_lowercase(),
        pl.lit(None, dtype=pl.String).alias("tool"),
        pl.col("commit").alias("group"),
    )
