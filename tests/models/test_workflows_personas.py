"""The quality bar of issue 5 on the synthetic personas: planted workflows found, few others reported."""

from __future__ import annotations

from datetime import date
from itertools import combinations, pairwise

from features import synth
from models.workflows import action_items, mine_workflows
from tests.models.helpers import synth_events


def test_planted_workflows_are_found_with_little_noise() -> None:
    data = synth.generate(personas=50, days=60, seed=1, end=date(2026, 11, 1))  # thresholds were set on seed 0
    events = synth_events(data)
    found = set(mine_workflows(action_items(events)).select("user_id", "a", "b").rows())
    steps = [(wf["pattern"], wf["instances_by_user"]) for wf in data.truth["workflows"]]
    planted = {(u, a, b) for pattern, users in steps for u in users for a, b in pairwise(pattern)}
    # a later step of a planted workflow also follows its first step (raw file, then its export): not noise
    in_planted = {(u, a, b) for pattern, users in steps for u in users for a, b in combinations(pattern, 2)}
    recall = len(found & planted) / len(planted)
    noise = len(found - in_planted) / len(found)
    assert recall >= 0.9, recall
    assert noise <= 0.1, noise
