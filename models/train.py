"""``floyo train``: fit each model family on the train window, evaluate on the held-out window, log to
MLflow and move the ``champion`` alias only when the new version beats the current champion on that window.

Until the lake's features exist the input is an event log in the CSV format of ``shared/data/README.md``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from models.cochange import cochange_to_json
from models.eventlog import read_event_log
from models.next_action import next_action_to_json
from models.protocol import Split, cochange_data, hit_metrics, next_item_steps, recall_metrics, time_split
from models.tuning import tune_cochange, tune_next_action

PROMOTION_METRIC = "mrr"


def train_from_log(path: Path | str, *, test_frac: float = 0.2) -> list[dict[str, Any]]:
    """Train, log and maybe promote ``floyo-next-action`` and ``floyo-cochange``; one summary per model."""
    from models.pyfunc import CoChangePyfunc, NextActionPyfunc, cochange_input, next_action_input

    split = time_split(read_event_log(path), test_frac=test_frac)
    window = _window(split, Path(path).name)
    steps, queries = next_item_steps(split)
    next_action = tune_next_action(steps, window=split.n_train)
    transactions, cc_queries = cochange_data(split, "path")
    cochange = tune_cochange(transactions, window=split.n_train)
    return [
        _log_and_promote(
            name="floyo-next-action", python_model=NextActionPyfunc(), artifact=next_action_to_json(next_action),
            params=next_action.config(), data={**window, "train_steps": len(steps), "test_queries": len(queries)},
            ranked=[next_action.rank(q) for q in queries], truth=[q.item for q in queries],
            model_input=next_action_input(queries), metrics=hit_metrics,
        ),
        _log_and_promote(
            name="floyo-cochange", python_model=CoChangePyfunc(), artifact=cochange_to_json(cochange),
            params=cochange.config(),
            data={**window, "train_transactions": len(transactions), "test_queries": len(cc_queries)},
            ranked=[cochange.rank(q) for q, _ in cc_queries], truth=[h for _, h in cc_queries],
            model_input=cochange_input([q for q, _ in cc_queries]), metrics=recall_metrics,
        ),
    ]  # fmt: skip


def _log_and_promote(
    *,
    name: str,
    python_model: Any,
    artifact: dict[str, Any],
    params: dict[str, Any],
    data: dict[str, Any],
    ranked: list[list[str]],
    truth: list[str],
    model_input: pd.DataFrame,
    metrics: Callable[[Sequence[Sequence[str]], Sequence[str]], dict[str, float]],
) -> dict[str, Any]:
    """Log one model; score the current champion on the same held-out queries; promote if strictly better."""
    from models import tracking

    scores = metrics(ranked, truth)
    previous = tracking.champion_version(name)
    champion_score = None
    if previous is not None:
        predicted = tracking.load(name).predict(model_input)["ranked"]
        champion_score = metrics([list(r) for r in predicted], truth)[PROMOTION_METRIC]
    logged = tracking.log_model_run(
        name=name, python_model=python_model, artifact=artifact, params=params,
        metrics=scores, data=data, input_example=model_input.head(5),
    )  # fmt: skip
    promoted = champion_score is None or scores[PROMOTION_METRIC] > champion_score
    if promoted:
        tracking.promote(logged)
    return {
        "name": name, "version": logged.version, "run_id": logged.run_id, PROMOTION_METRIC: scores[PROMOTION_METRIC],
        "champion_before": previous, f"champion_{PROMOTION_METRIC}": champion_score, "promoted": promoted,
    }  # fmt: skip


def _window(split: Split, source: str) -> dict[str, Any]:
    """The data window: where the rows came from and the time range and size of each part."""
    first = {g: split.rows[g][0]["ts"] for g in (split.groups[0], split.groups[-1])}
    train_end = split.rows[split.train[-1]][-1]["ts"] if split.train else None
    test_start = split.rows[split.test[0]][0]["ts"] if split.test else None
    return {
        "source": source,
        "train_start": first[split.groups[0]], "train_end": train_end,
        "test_start": test_start, "test_end": split.rows[split.groups[-1]][-1]["ts"],
        "transactions": len(split.groups), "train_transactions_all": split.n_train,
        "events": sum(len(rows) for rows in split.rows.values()),
    }  # fmt: skip
