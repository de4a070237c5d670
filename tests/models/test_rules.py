"""Association rules: hand-worked answers, agreement with mlxtend's own fpgrowth, caps and settings."""

from __future__ import annotations

import logging
import random

import numpy as np
import pandas as pd
import polars as pl
import pytest
from mlxtend.frequent_patterns import fpgrowth
from mlxtend.preprocessing import TransactionEncoder

from floyo.settings import get_settings
from models import rules as rules_module
from models.fpgrowth import frequent_itemsets
from models.rules import EVIDENCE_LIMIT, RuleLimits, encode, mine_rules, mine_rules_per_user

SESSIONS = {
    "s1": ["ext:csv", "run:clean.py", "kind:modify"],
    "s2": ["ext:csv", "run:clean.py"],
    "s3": ["ext:csv", "run:clean.py", "ext:md"],
    "s4": ["ext:md", "run:pandoc"],
    "s5": ["ext:csv", "ext:csv"],  # a duplicate item counts once
    "s6": ["zzz"],
}


def _frame(sessions: dict[str, list[str]], user: str | None = None) -> pl.DataFrame:
    rows = [(t, i) for t, items in sessions.items() for i in items]
    frame = pl.DataFrame(rows, schema=["transaction_id", "item"], orient="row")
    return frame.with_columns(pl.lit(user).alias("user_id")) if user else frame


def test_rules_by_hand() -> None:
    result = mine_rules(_frame(SESSIONS), limits=RuleLimits(min_support=0.3, min_count=2, min_confidence=0.5))
    # 6 sessions: threshold max(2, ceil(1.8)) = 2; csv 4, clean.py 3, md 2; modify, pandoc, zzz are rare
    assert result.pruned == {
        "items": 6, "rare_items": 3, "capped_items": 0, "pruned_occurrences": 3, "capped_rules": 0,
    }  # fmt: skip
    assert result.n_itemsets == 4  # csv, clean.py, md, {csv, clean.py}; {csv, md} is in s3 only
    rules = {(tuple(r["antecedents"]), tuple(r["consequents"])): r for r in result.rules.to_dicts()}
    assert set(rules) == {(("run:clean.py",), ("ext:csv",)), (("ext:csv",), ("run:clean.py",))}
    forward = rules[("ext:csv",), ("run:clean.py",)]
    assert forward["support"] == pytest.approx(3 / 6)
    assert forward["confidence"] == pytest.approx(3 / 4)
    assert forward["lift"] == pytest.approx((3 / 4) / (3 / 6))
    assert forward["conviction"] == pytest.approx((1 - 3 / 6) / (1 - 3 / 4))
    assert forward["count"] == 3
    assert forward["evidence"] == ["s1", "s2", "s3"]
    assert rules[("run:clean.py",), ("ext:csv",)]["conviction"] == float("inf")  # confidence 1


def test_row_order_does_not_matter() -> None:
    limits = RuleLimits(min_support=0.3, min_count=2, min_confidence=0.5)
    ordered = mine_rules(_frame(SESSIONS), limits=limits).rules
    shuffled = mine_rules(_frame(SESSIONS).sample(fraction=1.0, shuffle=True, seed=3), limits=limits).rules
    assert shuffled.drop("evidence").equals(ordered.drop("evidence"))
    assert [sorted(e) for e in shuffled["evidence"].to_list()] == ordered["evidence"].to_list()


def test_evidence_is_the_latest_transactions_in_the_order_given() -> None:
    sessions = {f"t{k:02d}": ["a", "b"] for k in range(30, 0, -1)}  # ids count down while time goes on
    rules = mine_rules(_frame(sessions), limits=RuleLimits(min_support=0.5, min_count=2)).rules
    assert rules["count"].to_list() == [30, 30]
    assert rules["evidence"].to_list()[0] == [f"t{k:02d}" for k in range(EVIDENCE_LIMIT, 0, -1)]


@pytest.mark.parametrize("chunk", [7, 4096])
def test_evidence_and_counts_match_a_scan_of_every_transaction(monkeypatch: pytest.MonkeyPatch, chunk: int) -> None:
    monkeypatch.setattr(rules_module, "EVIDENCE_CHUNK", chunk)  # small chunks: itemsets found across chunks
    txs = _random_transactions(5, n=300)
    frame = _frame({f"s{k:03d}": items for k, items in enumerate(txs)})
    found = mine_rules(frame, limits=RuleLimits(min_support=0.02, min_count=2, min_confidence=0.1)).rules
    assert found.height > 20
    for rule in found.iter_rows(named=True):
        itemset = set(rule["antecedents"]) | set(rule["consequents"])
        holding = [f"s{k:03d}" for k, items in enumerate(txs) if itemset <= set(items)]
        assert rule["count"] == len(holding)
        assert rule["evidence"] == holding[-EVIDENCE_LIMIT:]


def _random_transactions(seed: int, n: int = 400) -> list[list[str]]:
    rng = random.Random(seed)
    vocab = [f"i{k}" for k in range(25)]
    weights = [1 / (k + 2) for k in range(25)]
    txs = []
    for _ in range(n):
        items = set(rng.choices(vocab, weights=weights, k=rng.randint(1, 7)))
        if rng.random() < 0.3:
            items |= {"i20", "i21", "i22"}  # a planted bundle of rare items
        txs.append(sorted(items))
    return txs


@pytest.mark.parametrize(("seed", "support"), [(1, 0.05), (2, 0.02), (3, 0.1)])
def test_itemsets_identical_to_mlxtend_fpgrowth(seed: int, support: float) -> None:
    txs = _random_transactions(seed)
    encoder = TransactionEncoder()
    onehot = pd.DataFrame(encoder.fit(txs).transform(txs), columns=encoder.columns_)
    found = fpgrowth(onehot, min_support=support, use_colnames=True)
    expected = {frozenset(s): round(v * len(txs)) for s, v in zip(found["itemsets"], found["support"], strict=True)}
    frame = pl.DataFrame(
        [(t, i) for t, items in enumerate(txs) for i in items], schema=["transaction_id", "item"], orient="row"
    )
    min_count = int(np.ceil(support * len(txs) - 1e-9))
    enc = encode(frame, min_count=min_count, max_items=1000)
    kept = set(enc.items)
    assert len(enc.indices) == sum(len(kept & set(t)) for t in txs)  # sparse: one entry per kept (transaction, item)
    mine = frequent_itemsets(enc.indptr, enc.indices, len(enc.items), min_count=min_count)
    got = {frozenset(enc.items[i] for i in s): c for s, c in zip(mine.itemsets, mine.counts, strict=True)}
    assert got == expected
    assert any(len(s) == 3 for s in got)  # the planted bundle is found whole


def test_caps_prune_items_itemset_length_and_rules(caplog: pytest.LogCaptureFixture) -> None:
    txs = _random_transactions(4)
    frame = pl.DataFrame(
        [(t, i) for t, items in enumerate(txs) for i in items], schema=["transaction_id", "item"], orient="row"
    )
    free = mine_rules(frame, limits=RuleLimits(min_support=0.02, min_count=1, min_confidence=0.1))
    caplog.clear()  # the uncapped run logs too when an earlier test left the root logger at INFO
    with caplog.at_level(logging.INFO, logger="models.rules"):
        capped = mine_rules(
            frame,
            limits=RuleLimits(min_support=0.02, min_count=1, max_items=5, max_len=2, max_rules=7, min_confidence=0.1),
        )
    assert free.rules.height > 7
    assert capped.rules.height == 7
    assert capped.pruned["capped_items"] == 25 - 5 - capped.pruned["rare_items"]
    assert capped.pruned["capped_rules"] > 0
    assert all(len(r["antecedents"]) + len(r["consequents"]) == 2 for r in capped.rules.to_dicts())
    assert len({i for r in capped.rules.to_dicts() for i in r["antecedents"] + r["consequents"]}) <= 5
    assert capped.rules["lift"].to_list() == sorted(capped.rules["lift"].to_list(), reverse=True)
    record = next(r for r in caplog.records if r.getMessage() == "rules mined")
    assert record.__dict__["capped_items"] == capped.pruned["capped_items"]
    assert record.__dict__["capped_rules"] == capped.pruned["capped_rules"]
    assert record.__dict__["rules"] == 7


def test_rules_per_user_are_the_users_own() -> None:
    alice = _frame({f"a{k}": ["ext:csv", "run:clean.py"] for k in range(5)}, user="alice")
    bob = _frame({f"b{k}": ["ext:md", "run:pandoc"] for k in range(5)} | {"b9": ["ext:csv"]}, user="bob")
    limits = RuleLimits(min_support=0.5, min_count=2, user_min_transactions=5)
    result = mine_rules_per_user(pl.concat([alice, bob]), limits=limits)
    items = {u: {i for r in rs.rules.to_dicts() for i in r["antecedents"]} for u, rs in result.items()}
    assert items == {"alice": {"ext:csv", "run:clean.py"}, "bob": {"ext:md", "run:pandoc"}}
    assert result["bob"].n_transactions == 6
    assert all(e.startswith("b") for e in result["bob"].rules["evidence"].explode(empty_as_null=True).to_list())
    # with too few sessions of their own a user gets no personal rules (the global ones serve them)
    fewer = RuleLimits(min_support=0.5, min_count=2, user_min_transactions=6)
    assert list(mine_rules_per_user(pl.concat([alice, bob]), limits=fewer)) == ["bob"]


def test_no_rules_when_nothing_co_occurs() -> None:
    result = mine_rules(_frame({"s1": ["a"], "s2": ["a"], "s3": ["b"]}), limits=RuleLimits(min_count=1))
    assert result.rules.height == 0
    assert result.rules.columns[:3] == ["antecedents", "consequents", "support"]


def test_limits_come_from_floyo_rules_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOYO_RULES_MAX_ITEMS", "7")
    monkeypatch.setenv("FLOYO_RULES_MIN_SUPPORT", "0.25")
    get_settings.cache_clear()
    try:
        limits = RuleLimits.from_settings()
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    assert (limits.max_items, limits.min_support, limits.max_len) == (7, 0.25, 4)
    assert limits.threshold(100) == 25


def test_users_mined_in_worker_processes_match_one_process(monkeypatch: pytest.MonkeyPatch) -> None:
    from models import rules

    monkeypatch.setattr(rules, "CHUNK_ROWS", 150)  # several chunks a worker
    frames = [
        _frame({f"u{u}s{k:03d}": items for k, items in enumerate(_random_transactions(u, n=60))}, user=f"u{u}")
        for u in range(6)
    ]
    limits = RuleLimits(min_support=0.05, min_count=2, min_confidence=0.2)
    serial = mine_rules_per_user(pl.concat(frames), limits=limits, workers=1)
    parallel = mine_rules_per_user(pl.concat(frames), limits=limits, workers=2)
    chunks = rules._chunks([(f"u{u}", f) for u, f in enumerate(frames)], rules.CHUNK_ROWS)
    assert len(chunks) >= 3
    assert [u for c in chunks for u, _ in c] == [f"u{u}" for u in range(6)]
    assert list(parallel) == list(serial) == [f"u{u}" for u in range(6)]
    assert sum(r.rules.height for r in serial.values()) > 0
    for user, found in serial.items():
        assert parallel[user].rules.equals(found.rules)
        assert parallel[user].pruned == found.pruned


def test_a_user_without_enough_sessions_is_shown_the_global_rules() -> None:
    from models.findings import RulesModel

    regular = {f"a{k:02d}": ["ext:csv", "run:clean.py"] for k in range(25)}
    frame = pl.concat([_frame(regular, user="alice"), _frame({"b1": ["ext:md", "run:pandoc"]}, user="bob")])
    model = RulesModel.mine(frame, limits=RuleLimits(min_count=2))
    assert {r["scope"] for r in model.scoped("alice")} == {"user"}
    assert model.scoped("bob") == model.scoped(None) == [{**r, "scope": "global"} for r in model.rules]
    assert model.rules
    assert "bob" not in model.per_user
