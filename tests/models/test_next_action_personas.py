"""The quality bar of issue 5 for next action: on the synthetic personas, Floyo's model (hyper-parameters, and the
Markov or the re-ranker, chosen on the train window's tail only) beats first-order Markov on HR@5 and MRR on the
future (80/20 split by event time)."""

from __future__ import annotations

from datetime import date

from features import synth
from models.baselines import Markov1, MostPopular
from models.next_action import steps_from_items
from models.protocol import hit_metrics
from models.tuning import select_next_action
from models.workflows import action_items
from tests.models.helpers import synth_events


def test_next_action_beats_first_order_markov_on_the_personas() -> None:
    data = synth.generate(personas=30, days=40, seed=2, end=date(2026, 11, 1))
    events = synth_events(data)
    steps = steps_from_items(action_items(events).with_columns(events["path"]))  # action tokens, folder context
    cut = round(events.height * 0.8)  # ``when`` is the event's position in time
    train = [s for s in steps if s.when < cut]
    test = [s for s in steps if s.when >= cut]

    choice = select_next_action(train, window=cut)
    markov1 = Markov1(train, MostPopular(s.item for s in train))
    truth = [s.item for s in test]
    ours = hit_metrics(choice.model.rank_many(test), truth)
    theirs = hit_metrics([markov1.rank(s) for s in test], truth)
    assert ours["n"] > 3000
    assert ours["hr5"] > theirs["hr5"], (ours, theirs)
    assert ours["mrr"] >= theirs["mrr"], (ours, theirs)
    assert choice.validation[choice.kept] >= choice.validation["markov"]  # never worse on validation, by construction
