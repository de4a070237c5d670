"""Rules and workflows as models: what was mined (with its evidence), how it ranks, and its held-out score.

A ``RulesModel`` holds the global and per-user association rules; it ranks what else a session will touch
given the items touched so far. A ``WorkflowsModel`` holds each user's "A, then B within N s (then C…)"
patterns; it ranks what follows an action. Both are JSON artifacts in MLflow, so ``floyo patterns`` reads what the
champion found instead of mining afresh.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from models.rules import RuleLimits, mine_rules, mine_rules_per_user
from models.workflows import WorkflowLimits, json_safe, mine_workflows

MAX_QUERIES = 5000  # held-out queries scored per family (the first ones in time): bounds evaluation time


def _plain(value: Any) -> Any:
    """JSON-safe scalars: infinite conviction becomes ``None``, timestamps become ISO strings."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, list):
        return [str(v) for v in value]
    return value


def _records(frame: pl.DataFrame) -> list[dict[str, Any]]:
    return [{k: _plain(v) for k, v in row.items()} for row in frame.to_dicts()]


@dataclass
class RulesModel:
    """Association rules, global and per user; ``rank`` scores consequents by the best matching confidence."""

    rules: list[dict[str, Any]] = field(default_factory=list)
    per_user: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    stats: dict[str, Any] = field(default_factory=dict)
    _index: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict, repr=False)

    @classmethod
    def mine(cls, transactions: pl.DataFrame, *, limits: RuleLimits | None = None) -> RulesModel:
        """Mine ``user_id, transaction_id, item`` rows (oldest first)."""
        limits = limits or RuleLimits.from_settings()
        if transactions.is_empty():
            return cls(stats={"transactions": 0})
        found = mine_rules(transactions.select("transaction_id", "item"), limits=limits)
        users = mine_rules_per_user(transactions.select("user_id", "transaction_id", "item"), limits=limits)
        return cls(
            _records(found.rules),
            {u: _records(r.rules) for u, r in users.items() if r.rules.height},
            {"transactions": found.n_transactions, "itemsets": found.n_itemsets, **found.pruned},
        )

    def for_user(self, user: str | None) -> list[dict[str, Any]]:
        """A user's own rules, or the global ones."""
        return self.rules if user is None else self.per_user.get(user, [])

    def scoped(self, user: str | None) -> list[dict[str, Any]]:
        """What to show a user: their own rules (``scope`` "user"), else the global ones (``scope`` "global")."""
        own = self.for_user(user) if user is not None else []
        if own:
            return [{**r, "scope": "user"} for r in own]
        return [{**r, "scope": "global"} for r in self.rules]

    def rank(self, user: str, items: list[str]) -> list[str]:
        """Items not yet touched, by the highest confidence of a rule whose antecedents were all touched."""
        have = set(items)
        score: dict[str, float] = {}
        for rule in self._candidates(user, have):
            if set(rule["antecedents"]) <= have:
                for item in rule["consequents"]:
                    if item not in have and rule["confidence"] > score.get(item, -1.0):
                        score[item] = rule["confidence"]
        return sorted(score, key=lambda i: (-score[i], i))

    def _candidates(self, user: str, have: set[str]) -> list[dict[str, Any]]:
        """The rules (the user's and the global ones) whose first antecedent was touched: an index, not a scan."""
        if not self._index:
            for owner, rules in (("", self.rules), *self.per_user.items()):
                for rule in rules:
                    self._index.setdefault((owner, min(rule["antecedents"])), []).append(rule)
        return [r for owner in (user, "") for item in have for r in self._index.get((owner, item), [])]

    def to_json(self) -> dict[str, Any]:
        """The artifact MLflow stores."""
        return {"rules": self.rules, "per_user": self.per_user, "stats": self.stats}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RulesModel:
        """The model ``to_json`` wrote."""
        return cls(list(data["rules"]), dict(data["per_user"]), dict(data.get("stats", {})))


@dataclass
class WorkflowsModel:
    """Each user's workflows (pairs and longer chains); ``rank`` gives what follows an action, by confidence."""

    workflows: list[dict[str, Any]] = field(default_factory=list)
    limits: dict[str, Any] = field(default_factory=dict)
    _by_start: dict[tuple[str, ...], list[str]] = field(default_factory=dict, repr=False)

    @classmethod
    def mine(cls, items: pl.DataFrame, *, limits: WorkflowLimits | None = None) -> WorkflowsModel:
        """Mine ``user_id, ts, item`` rows."""
        limits = limits or WorkflowLimits()
        return cls.of_found(mine_workflows(items, limits=limits) if items.height else pl.DataFrame(), limits)

    @classmethod
    def of_found(cls, found: pl.DataFrame, limits: WorkflowLimits) -> WorkflowsModel:
        """The model of workflows ``mine_workflows`` (of either engine) found under ``limits``."""
        limits_json = {k: list(v) if isinstance(v, tuple) else v for k, v in limits.__dict__.items()}
        return cls(_workflow_records(found) if found.height else [], limits_json)

    def for_user(self, user: str | None) -> list[dict[str, Any]]:
        """One user's workflows, or everyone's."""
        return [w for w in self.workflows if user is None or w["user_id"] == user]

    def rank(self, user: str, item: str, previous: str | None = None) -> list[str]:
        """What this user does next after ``item`` in a workflow, most confident first.

        With ``previous`` (the action before ``item``), what ends a workflow ``previous → item → next`` comes
        first, then what follows ``item`` alone.
        """
        if not self._by_start:
            for w in sorted(self.workflows, key=lambda w: (-w["confidence"], w["b"])):
                steps = w.get("steps") or [w["a"], w["b"]]  # artifacts from before chains have no steps
                if len(steps) <= 3:  # a longer chain's confidence is given its whole prefix, not the last two
                    self._by_start.setdefault((w["user_id"], *steps[:-1]), []).append(steps[-1])
        pairs = self._by_start.get((user, item), [])
        chains = self._by_start.get((user, previous, item), []) if previous is not None else []
        return list(dict.fromkeys([*chains, *pairs]))

    def to_json(self) -> dict[str, Any]:
        """The artifact MLflow stores."""
        return {"workflows": self.workflows, "limits": self.limits}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> WorkflowsModel:
        """The model ``to_json`` wrote."""
        return cls(list(data["workflows"]), dict(data.get("limits", {})))


def _workflow_records(found: pl.DataFrame) -> list[dict[str, Any]]:
    """JSON-safe workflow rows: step lists and delay lists kept as lists, ISO times, no infinite conviction."""
    rows = json_safe(found).to_dicts()
    return [{**row, "last_seen": row["last_seen"].isoformat()} for row in rows]


def rule_queries(test: pl.DataFrame) -> list[tuple[str, list[str], str]]:
    """Hide-one-item queries on held-out transactions: ``(user, the other items, the hidden item)``."""
    out: list[tuple[str, list[str], str]] = []
    grouped = test.group_by("transaction_id", maintain_order=True).agg(pl.col("user_id").first(), pl.col("item"))
    for row in grouped.iter_rows(named=True):
        items = list(dict.fromkeys(row["item"]))
        if len(items) >= 2:
            out += [(str(row["user_id"]), [x for x in items if x != h], h) for h in items]
        if len(out) >= MAX_QUERIES:
            break
    return out[:MAX_QUERIES]


def workflow_queries(test: pl.DataFrame, *, within_s: float) -> list[tuple[str, str, str, str]]:
    """Held-out steps: ``(user, action, the user's next other action, the action before)`` when the next one
    came within ``within_s`` (the action before: ``''`` unless it came within ``within_s`` too)."""
    ordered = test.sort("user_id", "ts", maintain_order=True)
    nxt = ordered.with_columns(
        b=pl.col("item").shift(-1).over("user_id"),
        gap=(pl.col("ts").shift(-1).over("user_id") - pl.col("ts")).dt.total_microseconds() / 1e6,
        previous=pl.col("item").shift(1).over("user_id"),
        gap_before=(pl.col("ts") - pl.col("ts").shift(1).over("user_id")).dt.total_microseconds() / 1e6,
    ).filter(pl.col("b").is_not_null() & (pl.col("b") != pl.col("item")) & (pl.col("gap") <= within_s))
    before = pl.when(pl.col("gap_before") <= within_s).then(pl.col("previous")).otherwise(pl.lit(""))
    rows = nxt.head(MAX_QUERIES).select("user_id", "item", "b", before.fill_null("").alias("previous"))
    return [(str(u), a, b, p) for u, a, b, p in rows.iter_rows()]
