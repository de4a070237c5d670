"""Issue 16: the columnar split, steps, counting, tuning and baselines give what the object-per-event code gave
(``tests/models/reference_training.py``, run in the same test) on the synthetic personas and the sample log: the
same artifacts, parameters, data window, rankings, model inputs and metrics, to the last bit."""

from __future__ import annotations

from datetime import date
from typing import Any

import polars as pl
import pytest

from features import synth
from features.sessions import assign_sessions
from models.eventlog import read_event_log
from models.lakedata import model_events
from models.protocol import time_split
from models.train import COCHANGE_MAX_QUERIES, NEXT_ACTION_MAX_QUERIES, Fitted, fit_cochange, fit_next_action, window_of
from tests.models.helpers import SAMPLE_LOG, synth_events
from tests.models.reference_training import reference_fits


def _persona_raw() -> pl.DataFrame:
    return synth_events(synth.generate(personas=12, days=30, seed=3, end=date(2026, 11, 1)))


def _persona_events() -> pl.DataFrame:
    """Synthetic personas as ``training_data`` gives them: sessions as transactions, actions as items."""
    raw = _persona_raw()
    lake = raw.with_columns(pl.col("user_id").rank("dense").cast(pl.Int64), pl.int_range(pl.len()).alias("seq"))
    frame = assign_sessions(lake.lazy()).collect().sort("ts", "seq", maintain_order=True)
    return model_events(frame)


def _same(new: Fitted, old: dict[str, Any]) -> None:
    # a re-ranker's classifier is a skops zip whose member names are object ids: compared by what it ranks
    assert {k: v for k, v in new.artifact.items() if k != "classifier"} == {
        k: v for k, v in old["artifact"].items() if k != "classifier"
    }
    assert ("classifier" in new.artifact) == ("classifier" in old["artifact"])
    for field in ("params", "data", "ranked", "truth", "extra"):
        assert getattr(new, field) == old[field], field
    assert new.model_input.equals(old["model_input"])


@pytest.mark.slow
@pytest.mark.parametrize("source", ["personas", "sample log"])
def test_columnar_training_gives_what_the_object_code_gave(source: str) -> None:
    events = _persona_events() if source == "personas" else read_event_log(SAMPLE_LOG)
    split = time_split(events)
    window = window_of(split, source)
    old = reference_fits(events, source, max_steps=NEXT_ACTION_MAX_QUERIES, max_cochange=COCHANGE_MAX_QUERIES)
    new_next, new_cochange = fit_next_action(split, window), fit_cochange(split, window)
    assert new_next.data["train_steps"] > 1000
    assert new_cochange.data["test_queries"] > 100
    _same(new_next, old["next_action"])
    _same(new_cochange, old["cochange"])


def test_workflow_occurrences_found_slice_by_slice_are_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    from models import workflows

    items = workflows.action_items(_persona_raw())
    whole = workflows.mine_workflows(items, evidence=True)
    occurrences = workflows.occurrences(items, limits=workflows.WorkflowLimits())
    monkeypatch.setattr(workflows, "OCCURRENCE_SLICE", 499)  # many slices, boundaries inside users' runs
    assert items.height > 10 * 499
    assert workflows.occurrences(items, limits=workflows.WorkflowLimits()).equals(occurrences)
    assert workflows.mine_workflows(items, evidence=True).equals(whole)
    assert whole.height > 10


def test_workflows_mined_a_batch_of_users_at_a_time_are_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    from models import workflows

    items = workflows.action_items(_persona_raw())
    whole = workflows.mine_workflows(items, evidence=True)
    batch = items.height // 7
    batches = workflows.user_batches(items, batch)
    assert len(batches) >= 5
    assert all(b["user_id"].n_unique() >= 1 for b in batches)
    assert pl.concat(batches).sort("user_id", maintain_order=True).equals(items.sort("user_id", maintain_order=True))
    assert sum(b["user_id"].n_unique() for b in batches) == items["user_id"].n_unique()  # no user split
    monkeypatch.setattr(workflows, "USER_BATCH_EVENTS", batch)
    assert workflows.mine_workflows(items, evidence=True).equals(whole)
    assert whole["user_id"].n_unique() > len(batches)
