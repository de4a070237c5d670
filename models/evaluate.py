"""``floyo evaluate``: Floyo's models against the reference baselines on a time split of an event log."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import polars as pl

from models.baselines import Markov1, MostPopular, PairwiseRules
from models.eventlog import read_event_log
from models.protocol import Split, cochange_data, hit_metrics, next_item_steps, recall_metrics, time_split
from models.tuning import select_next_action, tune_cochange

Q = TypeVar("Q")
# docs/data.md, "Reference figures on the Flask log": the baselines computed outside the project, same protocol
REFERENCE: dict[str, dict[str, float]] = {
    "mostpop": {"hr1": 0.380, "hr3": 0.627, "hr5": 0.763, "mrr": 0.550, "n": 2077},
    "markov1": {"hr1": 0.553, "hr3": 0.802, "hr5": 0.827, "mrr": 0.696, "n": 2077},
    "path": {"coverage": 0.941, "r1": 0.190, "r5": 0.358, "r10": 0.419, "mrr": 0.275, "n": 1825},
    "ext": {"coverage": 0.957, "r1": 0.571, "r5": 0.760, "r10": 0.838, "mrr": 0.646, "n": 767},
}
COCHANGE_METRICS = ("coverage", "r1", "r5", "r10", "mrr")


def evaluate_log(path: Path | str, *, test_frac: float = 0.2) -> dict[str, Any]:
    """Read a CSV event log and evaluate every model on it (see ``evaluate_events``)."""
    return evaluate_events(read_event_log(path), test_frac=test_frac)


def evaluate_events(events: pl.DataFrame, *, test_frac: float = 0.2) -> dict[str, Any]:
    """The JSON object of issue 5: Floyo's next-ext and co-change models beside the baselines, rounded to 3."""
    split = time_split(events, test_frac=test_frac)
    out: dict[str, Any] = {"split": {"transactions": len(split.groups), "train": split.n_train, "test_frac": test_frac}}
    out["chosen"] = {}  # the hyper-parameters picked on the train window's tail
    out.update(_next_ext(split, out["chosen"]))
    baseline: dict[str, Any] = {}
    for level in ("path", "ext"):
        train, queries = cochange_data(split, level)
        floyo = tune_cochange(train, window=split.n_train)
        out[f"cochange_{level}"] = _score(floyo.rank, queries, recall_metrics)
        out["chosen"][f"cochange_{level}"] = floyo.config()
        baseline[level] = _score(PairwiseRules(train).rank, queries, recall_metrics)
    out["cochange_baseline"] = baseline
    rounded: dict[str, Any] = _rounded(out)
    return rounded


def _next_ext(split: Split, chosen: dict[str, Any]) -> dict[str, Any]:
    train, held = next_item_steps(split)
    queries = list(held)  # a log's test steps: every one is scored
    choice = select_next_action(train, window=split.n_train)
    chosen["next_ext"] = choice.model.config()
    chosen["next_ext_model"] = {"kept": choice.kept, "validation_mrr": choice.validation}
    popular = MostPopular.of_train(split)
    pairs = [(q, q.item) for q in queries]
    return {
        "next_ext": hit_metrics(choice.model.rank_many(queries), [q.item for q in queries]),
        "next_ext_baselines": {
            "mostpop": _score(popular.rank, pairs, hit_metrics),
            "markov1": _score(Markov1(train, popular).rank, pairs, hit_metrics),
            "markov1_per_user": _score(Markov1(train, popular, per_user=True).rank, pairs, hit_metrics),
        },
    }


def _score(
    rank: Callable[[Q], Sequence[str]],
    queries: Sequence[tuple[Q, str]],
    metrics: Callable[..., dict[str, float]],
) -> dict[str, float]:
    return metrics((rank(q) for q, _ in queries), (truth for _, truth in queries))


def _rounded(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    return round(value, 3) if isinstance(value, float) else value


def format_table(result: dict[str, Any]) -> str:
    """The evaluation as aligned text lines: each model beside its baselines."""
    lines = [f"split: {result['split']['train']} of {result['split']['transactions']} transactions for training"]
    rows = [("next ext", "floyo", result["next_ext"])]
    rows += [("next ext", name, m) for name, m in result["next_ext_baselines"].items()]
    for level in ("path", "ext"):
        rows += [(f"co-change {level}", "floyo", result[f"cochange_{level}"])]
        rows += [(f"co-change {level}", "pairwise", result["cochange_baseline"][level])]
    for task, model, metrics in rows:
        values = "  ".join(f"{k} {v}" for k, v in metrics.items())
        lines.append(f"{task:18} {model:17} {values}")
    return "\n".join(lines)


def cochange_beside_reference(result: dict[str, Any]) -> pl.DataFrame:
    """``level, model, metric, value``: Floyo's co-change scores, our pairwise baseline's and the reference
    figures (``REFERENCE``), for each level (path, ext) and metric of an ``evaluate_events`` result."""
    rows = []
    for level in ("path", "ext"):
        models = {"floyo": result[f"cochange_{level}"], "pairwise": result["cochange_baseline"][level],
                  "reference": REFERENCE[level]}  # fmt: skip
        rows += [
            {"level": level, "model": name, "metric": metric, "value": float(scores[metric])}
            for name, scores in models.items()
            for metric in COCHANGE_METRICS
        ]
    return pl.DataFrame(rows)
