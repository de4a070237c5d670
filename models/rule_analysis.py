"""Looking at mined rules (``notebooks/02-mine-rules``): how thresholds trade rules away, a user's rules beside the
global ones."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import polars as pl

from models.rules import RuleSet

KEY = ["antecedents", "consequents"]


def threshold_grid(rules: pl.DataFrame, supports: Iterable[float], confidences: Iterable[float]) -> pl.DataFrame:
    """``min_support, min_confidence, rules, median_lift``: how many of ``rules`` (mined at lower thresholds) pass
    each pair of thresholds, and their median lift (null when none pass)."""
    rows = []
    for s in supports:
        for c in confidences:
            kept = rules.filter((pl.col("support") >= s) & (pl.col("confidence") >= c))
            lift = kept["lift"].median() if kept.height else None
            rows.append({"min_support": s, "min_confidence": c, "rules": kept.height, "median_lift": lift})
    return pl.DataFrame(rows, schema={"min_support": pl.Float64, "min_confidence": pl.Float64, "rules": pl.Int64,
                                      "median_lift": pl.Float64})  # fmt: skip


def user_vs_global(global_rules: pl.DataFrame, per_user: Mapping[str, RuleSet]) -> pl.DataFrame:
    """Every per-user rule beside the same rule mined globally: ``user_id, antecedents, consequents``, the user's
    ``support, confidence, lift``, the global ``confidence_global, lift_global`` (null: not a global rule) and
    ``in_global``."""
    glob = global_rules.select(*KEY, confidence_global="confidence", lift_global="lift")
    frames = [
        found.rules.select(*KEY, "support", "confidence", "lift").with_columns(user_id=pl.lit(user))
        for user, found in per_user.items()
        if found.rules.height
    ]
    if not frames:
        schema: dict[str, Any] = {"user_id": pl.String, "antecedents": pl.List(pl.String), "consequents": pl.List(pl.String),
                  "support": pl.Float64, "confidence": pl.Float64, "lift": pl.Float64, "confidence_global": pl.Float64,
                  "lift_global": pl.Float64, "in_global": pl.Boolean}  # fmt: skip
        return pl.DataFrame(schema=schema)
    mine = pl.concat(frames).select("user_id", *KEY, "support", "confidence", "lift")
    joined = mine.join(glob, on=KEY, how="left")
    return joined.with_columns(in_global=pl.col("confidence_global").is_not_null()).sort(
        ["user_id", "confidence"], descending=[False, True]
    )


def per_user_summary(compared: pl.DataFrame) -> pl.DataFrame:
    """``user_id, rules, shared, own``: per user, how many rules, how many are also global rules, how many only theirs."""
    return (
        compared.group_by("user_id")
        .agg(rules=pl.len(), shared=pl.col("in_global").sum())
        .with_columns(own=pl.col("rules") - pl.col("shared"))
        .sort("user_id")
    )
