"""Association rules, global and per user: our sparse FP-growth feeding mlxtend's ``association_rules``.

Transactions arrive as a long frame (one row per transaction and item), are pruned (rare items, then all but
the ``max_items`` most frequent), encoded as a CSR matrix (never a dense one-hot frame), mined with
``models.fpgrowth`` and turned into rules by mlxtend, each rule with the transactions that support it.
"""

from __future__ import annotations

import logging
import math
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import polars as pl
from scipy import sparse

from models.fpgrowth import IntArray, frequent_itemsets

log = logging.getLogger(__name__)
EVIDENCE_LIMIT = 10  # transaction ids kept per rule (the most recent ones); the count is always exact
EVIDENCE_CHUNK = 4096  # transactions scanned per sparse product when collecting evidence, newest first


@dataclass(frozen=True)
class RuleLimits:
    """How much mining may do; defaults from ``FLOYO_RULES_*`` settings."""

    min_support: float = 0.01
    min_count: int = 3
    max_items: int = 5000
    max_len: int = 4
    max_rules: int = 5000
    min_confidence: float = 0.5
    min_lift: float = 1.0
    # one user's transactions are few: a 1% share would be one or two sessions, and a handful of items in
    # day-long sessions then makes tens of thousands of redundant rules
    user_min_support: float = 0.05
    user_max_rules: int = 300
    user_max_len: int = 3  # rule generation (mlxtend) costs ~0.5 s a user at 4 items per itemset, 25 ms at 3
    user_min_transactions: int = 20  # a handful of sessions gives rules, but no confidence worth a suggestion

    @classmethod
    def from_settings(cls) -> RuleLimits:
        """The limits configured in the environment."""
        from floyo.settings import get_settings

        s = get_settings()
        return cls(
            s.rules_min_support, s.rules_min_count, s.rules_max_items, s.rules_max_len, s.rules_max_rules,
            s.rules_min_confidence, s.rules_min_lift, s.rules_user_min_support, s.rules_user_max_rules,
            s.rules_user_max_len, s.rules_user_min_transactions,
        )  # fmt: skip

    def for_user(self) -> RuleLimits:
        """The limits of a per-user mining: the per-user support, itemset length and rule cap."""
        return replace(
            self, min_support=max(self.min_support, self.user_min_support), max_rules=self.user_max_rules,
            max_len=min(self.max_len, self.user_max_len),
        )  # fmt: skip

    def threshold(self, n_transactions: int) -> int:
        """The absolute support an itemset needs."""
        return max(self.min_count, math.ceil(self.min_support * n_transactions - 1e-9))


@dataclass
class Encoded:
    """Transactions as CSR rows of sorted item ids (0 = most frequent kept item)."""

    indptr: IntArray
    indices: IntArray
    items: list[str]
    transactions: pl.Series  # the id of each row
    pruned: dict[str, int] = field(default_factory=dict)


@dataclass
class RuleSet:
    """Mined rules with their evidence, and what the caps removed."""

    rules: pl.DataFrame
    n_transactions: int
    n_itemsets: int
    pruned: dict[str, int]


def encode(frame: pl.DataFrame, *, min_count: int, max_items: int) -> Encoded:
    """Prune and encode a ``transaction_id, item`` frame; transactions keep the order of their first row
    (give them oldest first: the evidence of a rule is its latest transactions in that order)."""
    tids, csr, names = _all_items(frame)
    support = np.bincount(csr.indices, minlength=len(names))
    frequent = np.flatnonzero(support >= min_count)
    kept = frequent[np.lexsort((frequent, -support[frequent]))][:max_items]  # most frequent first
    new_id = np.full(len(names), -1, dtype=np.int64)
    new_id[kept] = np.arange(len(kept))
    mapped = new_id[csr.indices]
    keep = mapped >= 0
    n_rows = csr.shape[0]
    row_len = np.bincount(np.repeat(np.arange(n_rows), np.diff(csr.indptr))[keep], minlength=n_rows)
    kept_csr = sparse.csr_matrix(
        (np.ones(int(keep.sum()), dtype=np.int8), mapped[keep], np.r_[0, np.cumsum(row_len)]), shape=(n_rows, len(kept))
    )
    kept_csr.has_sorted_indices = False
    kept_csr.sort_indices()
    pruned = {
        "items": len(names),
        "rare_items": len(names) - len(frequent),
        "capped_items": len(frequent) - len(kept),
        "pruned_occurrences": int(len(mapped) - keep.sum()),
    }
    return Encoded(kept_csr.indptr.astype(np.int64), kept_csr.indices.astype(np.int64), names.gather(kept).to_list(),
                   tids, pruned)  # fmt: skip


def _all_items(frame: pl.DataFrame) -> tuple[pl.Series, Any, pl.Series]:
    """Each transaction's distinct items as a CSR row (sorted item codes), the transactions' ids, the item names."""
    if not frame["transaction_id"].is_sorted():
        first = frame.select(pl.col("transaction_id").unique(maintain_order=True)).with_row_index("_order")
        frame = frame.join(first, on="transaction_id", maintain_order="left").sort("_order", maintain_order=True)
    tids = frame["transaction_id"]
    changed = (tids.slice(1) != tids.slice(0, max(len(tids) - 1, 0))).to_numpy()
    starts = np.flatnonzero(np.r_[len(tids) > 0, changed]) if len(tids) else np.zeros(0, dtype=np.int64)
    items = frame["item"].cast(pl.String)
    names = items.unique().sort()
    codes = items.cast(pl.Enum(names)).to_physical().to_numpy().astype(np.int64)
    indptr = np.r_[starts, len(tids)].astype(np.int64)
    csr = sparse.csr_matrix((np.ones(len(codes), dtype=np.int8), codes, indptr), shape=(len(starts), len(names)))
    csr.sum_duplicates()  # a repeated item counts once; this also sorts each row
    return tids.gather(starts), csr, names


def mine_rules(frame: pl.DataFrame, *, limits: RuleLimits | None = None, quiet: bool = False) -> RuleSet:
    """Rules between the items of ``transaction_id, item`` rows, with support, confidence, lift, conviction;
    logged unless ``quiet`` (per-user mining logs one summary instead)."""
    limits = limits or RuleLimits.from_settings()
    n = frame["transaction_id"].n_unique()
    enc = encode(frame, min_count=limits.threshold(n), max_items=limits.max_items)
    found = frequent_itemsets(enc.indptr, enc.indices, len(enc.items), min_count=limits.threshold(n),
                              max_len=limits.max_len)  # fmt: skip
    enc.pruned["capped_rules"] = 0
    if not any(len(s) > 1 for s in found.itemsets):
        return _logged(RuleSet(_empty_rules(), n, len(found.itemsets), enc.pruned), quiet)
    named = [frozenset(enc.items[i] for i in s) for s in found.itemsets]
    rules, enc.pruned["capped_rules"] = rules_from_itemsets(named, found.counts, n, limits)
    return _logged(RuleSet(_with_evidence(rules, enc, n), n, len(found.itemsets), enc.pruned), quiet)


def rules_from_itemsets(
    itemsets: list[frozenset[str]], counts: list[int], n: int, limits: RuleLimits
) -> tuple[Any, int]:
    """mlxtend's rules of frequent itemsets (absolute ``counts`` out of ``n`` transactions), filtered, ordered
    strongest first and capped at ``max_rules``; and how many the cap removed. Both engines call it."""
    import pandas as pd
    from mlxtend.frequent_patterns import association_rules

    frame = pd.DataFrame({"support": np.asarray(counts) / n, "itemsets": itemsets})
    with np.errstate(divide="ignore", invalid="ignore"):  # mlxtend divides by zero for certainty when conf is 1
        rules = association_rules(frame, num_itemsets=n, metric="confidence", min_threshold=limits.min_confidence)
    rules = rules[rules["lift"] >= limits.min_lift]
    # ties broken by the items, not by mlxtend's output order (frozenset order: it changes with the hash seed)
    rules["_a"] = ["\n".join(sorted(a)) for a in rules["antecedents"]]
    rules["_c"] = ["\n".join(sorted(c)) for c in rules["consequents"]]
    order = ["lift", "confidence", "support", "_a", "_c"]
    rules = rules.sort_values(order, ascending=[False, False, False, True, True], kind="stable")
    return rules.head(limits.max_rules), max(0, len(rules) - limits.max_rules)


def _logged(result: RuleSet, quiet: bool) -> RuleSet:
    """Log what was mined and what the caps removed."""
    if quiet:
        return result
    log.info(
        "rules mined",
        extra={"transactions": result.n_transactions, "itemsets": result.n_itemsets, "rules": result.rules.height,
               **result.pruned},
    )  # fmt: skip
    return result


def mine_rules_per_user(
    frame: pl.DataFrame, *, limits: RuleLimits | None = None, workers: int | None = None
) -> dict[str, RuleSet]:
    """``mine_rules`` on each user's own transactions (``user_id, transaction_id, item`` rows), with the
    per-user limits of ``limits`` (``RuleLimits.for_user``); users with fewer than ``user_min_transactions``
    transactions are left out (they get the global rules).

    Thousands of users are mined in ``workers`` processes (default: one per core from ``PARALLEL_MIN_USERS``
    users on): mlxtend's rule generation is pure Python, so threads would not help.
    """
    limits = (limits or RuleLimits.from_settings()).for_user()
    counts = frame.group_by("user_id").agg(pl.col("transaction_id").n_unique().alias("n"))
    enough = counts.filter(pl.col("n") >= limits.user_min_transactions)["user_id"]
    kept = frame.filter(pl.col("user_id").is_in(enough.implode()))
    parts = [(str(u), p) for (u,), p in kept.partition_by("user_id", as_dict=True, maintain_order=True).items()]
    workers = workers if workers is not None else _default_workers(len(parts))
    del kept
    if workers > 1:
        chunks = _chunks(parts, CHUNK_ROWS)
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            mined = {u: r for chunk in pool.map(_mine_users, chunks, [limits] * len(chunks)) for u, r in chunk.items()}
        found = {u: mined[u] for u, _ in parts}
    else:
        found = _mine_users(parts, limits)
    log.info(
        "rules mined per user",
        extra={"users": len(found), "users_with_too_few_transactions": counts.height - len(found),
               "workers": max(workers, 1), "rules": sum(r.rules.height for r in found.values()),
               "capped_rules": sum(r.pruned.get("capped_rules", 0) for r in found.values())},
    )  # fmt: skip
    return found


PARALLEL_MIN_USERS = 200
CHUNK_ROWS = 200_000  # rows a worker is sent at a time: a worker holds one chunk, whatever the lake's size


def _chunks(parts: list[tuple[str, pl.DataFrame]], max_rows: int) -> list[list[tuple[str, pl.DataFrame]]]:
    """Consecutive users in lists of about ``max_rows`` rows (a user is never split)."""
    chunks: list[list[tuple[str, pl.DataFrame]]] = [[]]
    rows = 0
    for part in parts:
        if chunks[-1] and rows + part[1].height > max_rows:
            chunks.append([])
            rows = 0
        chunks[-1].append(part)
        rows += part[1].height
    return chunks


def _default_workers(n_users: int) -> int:
    """One process per usable core for many users; none inside a daemon process (a Celery prefork worker),
    which may not start children."""
    if n_users < PARALLEL_MIN_USERS or multiprocessing.current_process().daemon:
        return 1
    return min(len(os.sched_getaffinity(0)), n_users)


def _mine_users(parts: list[tuple[str, pl.DataFrame]], limits: RuleLimits) -> dict[str, RuleSet]:
    return {user: mine_rules(part, limits=limits, quiet=True) for user, part in parts}


def _with_evidence(rules: Any, enc: Encoded, n: int) -> pl.DataFrame:
    """Rules as a polars frame, each with its exact count and the most recent supporting transactions."""
    index = {name: i for i, name in enumerate(enc.items)}
    itemsets = [
        sorted(index[x] for x in a | c) for a, c in zip(rules["antecedents"], rules["consequents"], strict=True)
    ]
    rule_ids, rows = _latest_supporting(enc, itemsets)
    found = pl.DataFrame({"rule": rule_ids, "row": rows}).sort("rule", "row")
    per_rule = found.group_by("rule").agg(pl.col("row")).sort("rule")
    evidence: list[list[Any]] = [[] for _ in itemsets]
    ids = enc.transactions.to_list()
    for rule, rule_rows in per_rule.iter_rows():
        evidence[rule] = [ids[r] for r in rule_rows]
    return rules_frame(rules, n, evidence, enc.transactions.dtype)


def rules_frame(rules: Any, n: int, evidence: list[list[Any]], id_type: Any) -> pl.DataFrame:
    """The rules of ``rules_from_itemsets`` as a polars frame with their exact count and ``evidence`` (per rule,
    its most recent supporting transactions, oldest first)."""
    support = rules["support"].to_numpy(dtype=float)
    return pl.DataFrame(
        {
            "antecedents": [sorted(a) for a in rules["antecedents"]],
            "consequents": [sorted(c) for c in rules["consequents"]],
            "support": support,
            "confidence": rules["confidence"].to_numpy(dtype=float),
            "lift": rules["lift"].to_numpy(dtype=float),
            "conviction": rules["conviction"].to_numpy(dtype=float),
            "count": np.rint(support * n).astype(np.int64),  # the itemset's count: support is count / n
            "evidence": evidence,
        },
        schema_overrides={"evidence": pl.List(id_type)},
    )


def _latest_supporting(enc: Encoded, itemsets: list[list[int]]) -> tuple[IntArray, IntArray]:
    """For each itemset, the rows of its ``EVIDENCE_LIMIT`` most recent transactions: ``(itemset, row)`` pairs.

    Transactions are scanned newest first, a chunk at a time: one sparse product counts how many of each
    itemset's items every transaction holds, and an itemset drops out once it has its evidence, so frequent
    itemsets (all of them are: min support) cost a chunk or two.
    """
    n_rows, n_items = len(enc.indptr) - 1, len(enc.items)
    x = sparse.csr_matrix((np.ones(len(enc.indices), dtype=np.int32), enc.indices, enc.indptr), (n_rows, n_items))
    sizes = np.array([len(s) for s in itemsets], dtype=np.int64)
    members = sparse.csr_matrix(
        (np.ones(int(sizes.sum()), dtype=np.int32), np.concatenate([np.asarray(s, dtype=np.int64) for s in itemsets]),
         np.r_[0, np.cumsum(sizes)]), (len(itemsets), n_items),
    ).T.tocsc()  # fmt: skip
    wanted = np.full(len(itemsets), EVIDENCE_LIMIT, dtype=np.int64)
    out_rule: list[IntArray] = []
    out_row: list[IntArray] = []
    hi = n_rows
    while hi > 0 and (open_ := np.flatnonzero(wanted > 0)).size:
        lo = max(0, hi - EVIDENCE_CHUNK)
        held = (x[lo:hi] @ members[:, open_]).tocoo()
        hit = held.data == sizes[open_[held.col]]
        rule, row = open_[held.col[hit]], held.row[hit] + lo
        order = np.lexsort((-row, rule))  # per itemset, newest first
        rule, row = rule[order], row[order]
        first = np.r_[0, np.flatnonzero(np.diff(rule)) + 1]
        rank = np.arange(len(rule)) - np.repeat(first, np.diff(np.r_[first, len(rule)]))
        keep = rank < wanted[rule]
        out_rule.append(rule[keep])
        out_row.append(row[keep])
        wanted -= np.bincount(rule[keep], minlength=len(itemsets))
        hi = lo
    if not out_rule:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    return np.concatenate(out_rule), np.concatenate(out_row)


def _empty_rules() -> pl.DataFrame:
    return pl.DataFrame(
        schema={
            "antecedents": pl.List(pl.String), "consequents": pl.List(pl.String), "support": pl.Float64,
            "confidence": pl.Float64, "lift": pl.Float64, "conviction": pl.Float64, "count": pl.Int64,
            "evidence": pl.List(pl.String),
        }
    )  # fmt: skip
