"""Association rules on Spark: MLlib's FPGrowth finds the global frequent itemsets, the local engine's rule
generation (``models.rules.rules_from_itemsets``) turns them into rules, and a Spark join finds each rule's
latest supporting transactions. Per-user rules are mined user by user on the executors (a grouped map over
the transactions partitioned by user), with the local engine's own miner: one FPGrowth job per user would be
thousands of jobs, and one user's transactions are small.

The result is the local engine's ``RulesModel``, equal to it on the same transactions.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import polars as pl

from models.findings import RulesModel, _records
from models.rules import EVIDENCE_LIMIT, RuleLimits, rules_frame, rules_from_itemsets

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import DataFrame


def mine_rules(transactions: DataFrame, *, limits: RuleLimits) -> RulesModel:
    """Global and per-user rules of ``user_id, transaction_id, ts, item`` rows (``ts``: the transaction's start)."""
    tx = transactions.select("user_id", "transaction_id", "ts", "item").distinct().cache()
    try:
        n = tx.select("transaction_id").distinct().count()
        if n == 0:
            return RulesModel(stats={"transactions": 0})
        found, itemsets, stats = _global_rules(tx, n, limits)
        per_user = _per_user(tx, limits.for_user())
    finally:
        tx.unpersist()
    return RulesModel(_records(found), per_user, {"transactions": n, "itemsets": itemsets, **stats})


def _kept_items(tx: DataFrame, threshold: int, max_items: int) -> tuple[list[str], dict[str, int]]:
    """The items FP-growth sees (frequent ones, the ``max_items`` most frequent, ties by name) and what was pruned."""
    counts = {r["item"]: int(r["count"]) for r in tx.groupBy("item").count().collect()}
    frequent = sorted((i for i, c in counts.items() if c >= threshold), key=lambda i: (-counts[i], i))
    kept = frequent[:max_items]
    pruned = {
        "items": len(counts),
        "rare_items": len(counts) - len(frequent),
        "capped_items": len(frequent) - len(kept),
        "pruned_occurrences": sum(counts.values()) - sum(counts[i] for i in kept),
    }
    return kept, pruned


def frequent_itemsets(
    tx: DataFrame, n: int, limits: RuleLimits
) -> tuple[list[frozenset[str]], list[int], dict[str, int]]:
    """MLlib FPGrowth's itemsets of at most ``max_len`` items held by ``limits.threshold(n)`` transactions."""
    from pyspark.ml.fpm import FPGrowth
    from pyspark.sql import functions as F  # noqa: N812

    threshold = limits.threshold(n)
    kept, pruned = _kept_items(tx, threshold, limits.max_items)
    spark = tx.sparkSession
    kept_frame = F.broadcast(spark.createDataFrame([(i,) for i in kept], "item string"))
    baskets = tx.join(kept_frame, "item").groupBy("transaction_id").agg(F.collect_list("item").alias("items")).cache()
    m = baskets.count()  # transactions left with a kept item: FPGrowth's support is a share of these
    if not kept or m < threshold:
        baskets.unpersist()
        return [], [], pruned
    # FPGrowth keeps what ceil(minSupport * m) transactions hold: half a transaction below the threshold is it
    model = FPGrowth(itemsCol="items", minSupport=(threshold - 0.5) / m, minConfidence=1.0).fit(baskets)
    rows = model.freqItemsets.filter(F.size("items") <= limits.max_len).collect()
    baskets.unpersist()
    return [frozenset(r["items"]) for r in rows], [int(r["freq"]) for r in rows], pruned


def _global_rules(tx: DataFrame, n: int, limits: RuleLimits) -> tuple[Any, int, dict[str, int]]:
    """Rules over every transaction, with evidence; the number of itemsets and what the caps removed."""
    from models.rules import _empty_rules

    itemsets, counts, pruned = frequent_itemsets(tx, n, limits)
    if not any(len(s) > 1 for s in itemsets):
        return _empty_rules(), len(itemsets), {**pruned, "capped_rules": 0}
    rules, capped = rules_from_itemsets(itemsets, counts, n, limits)
    members = [sorted(a | c) for a, c in zip(rules["antecedents"], rules["consequents"], strict=True)]
    return rules_frame(rules, n, _evidence(tx, members), pl.String), len(itemsets), {**pruned, "capped_rules": capped}


def _evidence(tx: DataFrame, members: list[list[str]]) -> list[list[Any]]:
    """Per itemset, its ``EVIDENCE_LIMIT`` latest supporting transactions, oldest first.

    Each partition of the transactions finds its own latest ten per itemset by the local engine's chunked sparse
    products, newest first (an itemset drops out once it has ten: frequent ones cost a chunk or two), and a window
    per itemset keeps the newest ten of those. A join of every transaction row with every itemset holding its
    item, counted per transaction, gave the same rows at ~280 rows per item row (49 s of 75 s at 100k events).
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F  # noqa: N812

    found = (
        tx.groupBy("transaction_id", "ts")
        .agg(F.collect_set("item").alias("items"))
        .mapInPandas(_partition_latest(members), schema=f"rule int, transaction_id {_id_type(tx)}, ts timestamp")
    )
    newest = Window.partitionBy("rule").orderBy(F.col("ts").desc(), F.col("transaction_id").desc())
    latest = (
        found.withColumn("rank", F.row_number().over(newest))
        .filter(F.col("rank") <= EVIDENCE_LIMIT)
        .select("rule", "transaction_id", "rank")
        .collect()
    )
    evidence: list[list[Any]] = [[] for _ in members]
    for row in sorted(latest, key=lambda r: (r["rule"], -r["rank"])):
        evidence[row["rule"]].append(row["transaction_id"])
    return evidence


def _id_type(tx: DataFrame) -> str:
    return str(tx.schema["transaction_id"].dataType.simpleString())


def _partition_latest(members: list[list[str]]) -> Callable[[Iterator[pd.DataFrame]], Iterator[pd.DataFrame]]:
    """A ``mapInPandas`` function: a partition's ``EVIDENCE_LIMIT`` newest transactions holding each itemset."""

    def latest(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        import numpy as np
        import pandas as pd

        from models.rules import Encoded, _latest_supporting

        part = pd.concat(list(batches), ignore_index=True)
        if part.empty:
            return
        # oldest first, as the local engine's rows: it scans them from the end
        part = part.sort_values(["ts", "transaction_id"], kind="stable", ignore_index=True)
        names = sorted({i for items in members for i in items})
        index = {name: k for k, name in enumerate(names)}
        codes = [sorted(index[i] for i in items if i in index) for items in part["items"]]
        indptr = np.r_[0, np.cumsum([len(c) for c in codes])].astype(np.int64)
        indices = np.fromiter((i for c in codes for i in c), dtype=np.int64, count=int(indptr[-1]))
        enc = Encoded(indptr, indices, names, pl.Series(np.arange(len(part))))
        rule, row = _latest_supporting(enc, [sorted(index[i] for i in items) for items in members])
        yield pd.DataFrame(
            {"rule": rule.astype(np.int32), "transaction_id": part["transaction_id"].to_numpy()[row],
             "ts": part["ts"].to_numpy()[row]}
        )  # fmt: skip

    return latest


def _per_user(tx: DataFrame, limits: RuleLimits) -> dict[str, list[dict[str, Any]]]:
    """Each user's own rules, mined on the executors by the local miner (users with too few transactions: none)."""
    from pyspark.sql import functions as F  # noqa: N812

    def mine(part: pd.DataFrame) -> pd.DataFrame:
        import pandas as pd
        import polars as pl

        from models.rules import mine_rules as mine_local

        frame = pl.from_pandas(part).sort("t", "transaction_id", maintain_order=True)
        # object columns: pandas' pyarrow-backed strings reach Spark's Arrow writer as chunked arrays it refuses
        empty = pd.DataFrame({"user_id": [], "rules": []}, dtype=object)
        if frame["transaction_id"].n_unique() < limits.user_min_transactions:
            return empty
        found = mine_local(frame.select("transaction_id", "item"), limits=limits, quiet=True).rules
        if found.is_empty():
            return empty
        return pd.DataFrame(
            {"user_id": [str(frame["user_id"][0])], "rules": [json.dumps(_records(found))]}, dtype=object
        )

    rows = (
        tx.select("user_id", "transaction_id", F.unix_micros("ts").alias("t"), "item")
        .groupBy("user_id")
        .applyInPandas(mine, schema="user_id string, rules string")
        .collect()
    )
    return {r["user_id"]: json.loads(r["rules"]) for r in sorted(rows, key=lambda r: r["user_id"])}
