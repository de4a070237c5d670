from __future__ import annotations

import polars as pl

from models.rule_analysis import per_user_summary, threshold_grid, user_vs_global
from models.rules import RuleLimits, mine_rules, mine_rules_per_user


def _transactions() -> pl.DataFrame:
    rows = []
    for t in range(40):
        user = "a" if t % 2 else "b"
        items = ["ext:csv", "run:python"] if t % 4 < 3 else ["ext:md"]
        if user == "b" and t % 4 == 0:
            items = ["ext:md", "run:pandoc"]  # only b: md then pandoc
        rows += [(user, f"t{t:02d}", i) for i in items]
    return pl.DataFrame(rows, schema=["user_id", "transaction_id", "item"], orient="row")


def test_threshold_grid_counts_rules_passing_each_pair() -> None:
    rules = pl.DataFrame({"support": [0.1, 0.2, 0.5], "confidence": [0.9, 0.5, 0.7], "lift": [3.0, 1.0, 2.0]})
    grid = threshold_grid(rules, [0.1, 0.3], [0.5, 0.8])
    assert grid.select("min_support", "min_confidence", "rules").rows() == [
        (0.1, 0.5, 3), (0.1, 0.8, 1), (0.3, 0.5, 1), (0.3, 0.8, 0),
    ]  # fmt: skip
    assert grid["median_lift"].to_list() == [2.0, 3.0, 2.0, None]


def test_user_rules_beside_global_ones() -> None:
    frame = _transactions()
    limits = RuleLimits(min_support=0.05, min_count=2, user_min_support=0.05, user_min_transactions=5)
    found = mine_rules(frame.select("transaction_id", "item"), limits=limits, quiet=True)
    users = mine_rules_per_user(frame, limits=limits, workers=1)
    compared = user_vs_global(found.rules, users)
    assert set(compared["user_id"]) == {"a", "b"}
    csv = compared.filter(pl.col("antecedents") == ["ext:csv"], pl.col("consequents") == ["run:python"])
    assert csv["in_global"].all()
    assert csv["confidence"].to_list() == [1.0, 1.0]
    assert csv["confidence_global"].to_list() == [1.0, 1.0]
    summary = per_user_summary(compared)
    assert summary.columns == ["user_id", "rules", "shared", "own"]
    assert (summary["rules"] == summary["shared"] + summary["own"]).all()
    assert user_vs_global(found.rules, {}).is_empty()
