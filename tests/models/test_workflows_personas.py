"""The quality bar of issue 5 on the synthetic personas: planted workflows found, few others reported."""

from __future__ import annotations

from datetime import date
from itertools import combinations, pairwise

import polars as pl

from features import synth
from floyo.events import extension_of
from models.workflows import action_items, mine_workflows


def test_planted_workflows_are_found_with_little_noise() -> None:
    data = synth.generate(personas=50, days=60, seed=1, end=date(2026, 11, 1))  # thresholds were set on seed 0
    rows = [
        {"user_id": u.name, "ts": e["ts"], "kind": e["kind"], "path": e["path"], "tool": e.get("tool")}
        for u in data.users
        for e in u.events
    ]
    events = pl.DataFrame(rows).with_columns(
        pl.col("ts").str.to_datetime(time_zone="UTC"),
        pl.col("path").map_elements(lambda p: extension_of(p) or "", return_dtype=pl.String).alias("ext"),
    )
    found = set(mine_workflows(action_items(events)).select("user_id", "a", "b").rows())
    steps = [(wf["pattern"], wf["instances_by_user"]) for wf in data.truth["workflows"]]
    planted = {(u, a, b) for pattern, users in steps for u in users for a, b in pairwise(pattern)}
    # a later step of a planted workflow also follows its first step (raw file, then its export): not noise
    in_planted = {(u, a, b) for pattern, users in steps for u in users for a, b in combinations(pattern, 2)}
    recall = len(found & planted) / len(planted)
    noise = len(found - in_planted) / len(found)
    assert recall >= 0.9, recall
    assert noise <= 0.1, noise
