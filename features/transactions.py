"""Transactions: the set of items touched in a session (``ext:csv``, ``run:pytest``, ``dir:data``, ``kind:modify``)."""

from __future__ import annotations

import polars as pl

from features.sessions import keyed


def item_families() -> dict[str, pl.Expr]:
    """Per event, the raw value of each item family (null when the event has none): ext, run tool, top folder, kind."""
    is_run = pl.col("kind") == "run"
    return {
        "ext": pl.when(~is_run & (pl.col("ext") != "")).then(pl.col("ext")),
        "run": pl.when(is_run).then(pl.col("tool")),
        "dir": pl.when(pl.col("path").str.contains("/", literal=True)).then(pl.col("path").str.split("/").list.first()),
        "kind": pl.col("kind"),
    }


def transactions(assigned: pl.LazyFrame) -> pl.LazyFrame:
    """One row per session (from ``assign_sessions``): keys, user, start, and the sorted distinct items."""
    # deduplicate the raw values per session first, and build the "family:value" strings only for the survivors
    families = [
        assigned.select("session_id", value=expr)
        .drop_nulls("value")
        .unique()
        .select("session_id", item=pl.lit(f"{name}:") + pl.col("value"))
        for name, expr in item_families().items()
    ]
    items = pl.concat(families).group_by("session_id").agg(pl.col("item").sort().alias("items"))
    heads = keyed(
        assigned.group_by("session_id", maintain_order=True).agg(pl.col("user_id").first(), start=pl.col("ts").min())
    )
    return heads.join(items, on="session_id", how="left", maintain_order="left").with_columns(
        n_items=pl.col("items").list.len()
    )
