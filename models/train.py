"""``floyo train``: fit each model family on the train window, evaluate on the held-out window, log to
MLflow and move the ``champion`` alias only when the new version beats the current champion on that window.

The input is the lake (``models.lakedata``) or an event log in the CSV format of ``data/samples``.
Four families: ``floyo-next-action``, ``floyo-cochange``, ``floyo-rules`` and ``floyo-workflows``.

A run's scope (``TrainingData.scope``) decides where it is registered: a run over the whole lake (``lake``) under
the family's global name, the only one whose ``champion`` serves everyone; a run on one user's events
(``user:<name>``) or on a foreign log (``log:<file>``) under a name of its own (``tracking.scoped_name``), judged
against that name's champion only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import pandas as pd
import polars as pl

from floyo.errors import InvalidInput
from models.baselines import Markov1, MostPopular, PairwiseRules
from models.cochange import cochange_to_json
from models.eventlog import read_event_log
from models.findings import RulesModel, WorkflowsModel, rule_queries, workflow_queries
from models.protocol import Split, cochange_data, hit_metrics, next_item_steps, recall_metrics, time_split
from models.tuning import select_next_action, tune_cochange

if TYPE_CHECKING:
    from models.rules import RuleLimits
    from models.workflows import WorkflowLimits

PROMOTION_METRIC = "mrr"
# co-change queries scored per training (held-out: the first in time; validation: per tuning config): enough for
# MRR to ~0.01, and a bounded cost whatever the lake's size
COCHANGE_MAX_QUERIES = 2000
COCHANGE_TUNING_QUERIES = 1000
NEXT_ACTION_MAX_QUERIES = 20_000  # held-out steps scored (evenly spaced over the window)
FAMILIES = ("floyo-next-action", "floyo-cochange", "floyo-rules", "floyo-workflows")
Progress = Callable[[str], None]
LOCAL_ENGINE = "local"


class Miner(Protocol):
    """Another engine mining the rules and workflows families (``models.spark``) on the rows before ``cut``
    (the held-out window's start); the other families, the split and the scoring stay local."""

    engine: str

    def rules(self, cut: datetime | None, limits: RuleLimits) -> RulesModel:
        """Global and per-user rules of the transactions before ``cut``."""
        ...

    def workflows(self, cut: datetime | None, limits: WorkflowLimits) -> tuple[WorkflowsModel, int]:
        """Workflows of the actions before ``cut``, and how many actions that was."""
        ...


@dataclass
class TrainingData:
    """What every family trains on: events (``user_id, ts, kind, path, ext, tool, group``, in time order),
    transactions (``user_id, transaction_id, ts, item``, oldest first) and actions (``user_id, ts, item``)."""

    events: pl.DataFrame
    transactions: pl.DataFrame
    actions: pl.DataFrame
    source: str
    scope: str = "lake"  # ``lake`` (everyone's events), ``user:<name>`` or ``log:<file>``


def train_from_log(
    path: Path | str, *, test_frac: float = 0.2, progress: Progress | None = None
) -> list[dict[str, Any]]:
    """Train, log and maybe promote every family on a CSV event log; one summary per model."""
    from models.patterns import log_transactions
    from models.workflows import action_items

    events = read_event_log(path)
    first = events.group_by("group", maintain_order=True).agg(pl.col("ts").min(), pl.col("user_id").first())
    transactions = log_transactions(events).join(first, left_on="transaction_id", right_on="group")
    data = TrainingData(events, transactions.select("user_id", "transaction_id", "ts", "item"),
                        action_items(events), Path(path).name, scope=f"log:{Path(path).name}")  # fmt: skip
    return train_all(data, test_frac=test_frac, progress=progress)


def train_all(
    data: TrainingData, *, test_frac: float = 0.2, progress: Progress | None = None, miner: Miner | None = None
) -> list[dict[str, Any]]:
    """Split by time once, then train, score, log and maybe promote each family on that split; the rules and
    workflows are mined by ``miner`` when one is given (each summary's ``engine`` says which engine ran)."""
    if data.events.is_empty():
        raise InvalidInput("no_events", f"no events to train on in {data.source}")
    split = time_split(data.events, test_frac=test_frac)
    window = window_of(split, data.source)
    cut = _test_start(data.events, split)
    step = progress or (lambda _: None)
    scope = data.scope
    local = {**window, "engine": LOCAL_ENGINE}
    results = [_train_next_action(split, local, scope)]
    step("floyo-next-action")
    results.append(_train_cochange(split, local, scope))
    step("floyo-cochange")
    results.append(_train_rules(data.transactions, cut, window, scope, miner))
    step("floyo-rules")
    results.append(_train_workflows(data.actions, cut, window, scope, miner))
    step("floyo-workflows")
    return results


def _test_start(events: pl.DataFrame, split: Split) -> datetime | None:
    """When the held-out window starts: the first event of the first test transaction."""
    if split.n_train >= split.heads.height:
        return None
    first: datetime = split.events.filter(pl.col("g") == split.n_train)["ts"].min()  # type: ignore[assignment]
    return first


@dataclass
class Fitted:
    """One family fitted and scored on a split, before it is logged: what ``_log_and_promote`` takes."""

    artifact: dict[str, Any]
    params: dict[str, Any]
    data: dict[str, Any]
    ranked: list[list[str]]
    truth: list[str]
    model_input: pd.DataFrame
    extra: dict[str, float]


def fit_next_action(split: Split, window: dict[str, Any]) -> Fitted:
    """Select, fit and score the next-action model and its baselines on a split (nothing logged)."""
    from models.next_action_ranker import model_to_json
    from models.pyfunc import next_action_input

    steps, held = next_item_steps(split)
    queries = held.evenly_spaced(NEXT_ACTION_MAX_QUERIES)
    choice = select_next_action(steps, window=split.n_train)
    validation = {f"validation_mrr_{name}": mrr for name, mrr in choice.validation.items()}
    popular = MostPopular.of_train(split)
    baselines: dict[str, MostPopular | Markov1] = {"mostpop": popular, "markov1": Markov1(steps, popular)}
    truth = [q.item for q in queries]
    baseline_scores = {
        f"baseline_{name}_{k}": v
        for name, model in baselines.items()
        for k, v in hit_metrics([model.rank(q) for q in queries], truth).items()
        if k in ("hr1", "hr3", "hr5", "mrr")
    }
    return Fitted(
        model_to_json(choice.model), {"model": choice.kept, **choice.model.config()},
        {**window, "train_steps": len(steps), "test_queries": len(queries)}, choice.model.rank_many(queries), truth,
        next_action_input(queries), validation | baseline_scores,
    )  # fmt: skip


def _train_next_action(split: Split, window: dict[str, Any], scope: str) -> dict[str, Any]:
    from models.pyfunc import NextActionPyfunc

    fitted = fit_next_action(split, window)
    return _log_and_promote(
        name="floyo-next-action", scope=scope, python_model=NextActionPyfunc(), metrics=hit_metrics, **vars(fitted)
    )


def fit_cochange(split: Split, window: dict[str, Any]) -> Fitted:
    """Tune, fit and score the co-change model and the pairwise baseline on a split (nothing logged)."""
    from models.pyfunc import cochange_input

    transactions, queries = cochange_data(split, "path", max_queries=COCHANGE_MAX_QUERIES)
    model = tune_cochange(transactions, window=split.n_train, max_queries=COCHANGE_TUNING_QUERIES)
    pairwise = PairwiseRules(transactions)
    baseline = recall_metrics([pairwise.rank(q) for q, _ in queries], [h for _, h in queries])
    return Fitted(
        cochange_to_json(model), model.config(),
        {**window, "train_transactions": len(transactions), "test_queries": len(queries)},
        [model.rank(q) for q, _ in queries], [h for _, h in queries], cochange_input([q for q, _ in queries]),
        {f"baseline_pairwise_{k}": baseline[k] for k in ("r1", "r5", "r10", "mrr")},
    )  # fmt: skip


def _train_cochange(split: Split, window: dict[str, Any], scope: str) -> dict[str, Any]:
    from models.pyfunc import CoChangePyfunc

    fitted = fit_cochange(split, window)
    return _log_and_promote(
        name="floyo-cochange", scope=scope, python_model=CoChangePyfunc(), metrics=recall_metrics, **vars(fitted)
    )


def _before(frame: pl.DataFrame, cut: datetime | None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The rows before the held-out window and the rows in it."""
    if cut is None:
        return frame, frame.clear()
    return frame.filter(pl.col("ts") < cut), frame.filter(pl.col("ts") >= cut)


def _train_rules(
    transactions: pl.DataFrame, cut: datetime | None, window: dict[str, Any], scope: str, miner: Miner | None = None
) -> dict[str, Any]:
    from models.pyfunc import RulesPyfunc, rules_input
    from models.rules import RuleLimits

    train, test = _before(transactions, cut)
    limits = RuleLimits.from_settings()
    model = miner.rules(cut, limits) if miner else RulesModel.mine(train, limits=limits)
    queries = rule_queries(test)
    return _log_and_promote(
        name="floyo-rules", scope=scope, python_model=RulesPyfunc(), artifact=model.to_json(), params=limits.__dict__,
        data={**window, "engine": miner.engine if miner else LOCAL_ENGINE,
              "train_transactions": model.stats.get("transactions", 0), "test_queries": len(queries),
              "rules": len(model.rules), "users_with_rules": len(model.per_user), **model.stats},
        ranked=[model.rank(u, q) for u, q, _ in queries], truth=[h for _, _, h in queries],
        model_input=rules_input(queries or [("", ["ext:py"], "")]), metrics=recall_metrics,
    )  # fmt: skip


def _train_workflows(
    actions: pl.DataFrame, cut: datetime | None, window: dict[str, Any], scope: str, miner: Miner | None = None
) -> dict[str, Any]:
    from models.pyfunc import WorkflowsPyfunc, workflows_input
    from models.workflows import WorkflowLimits

    train, test = _before(actions, cut)
    limits = WorkflowLimits()
    model, n_train = (
        miner.workflows(cut, limits) if miner else (WorkflowsModel.mine(train, limits=limits), train.height)
    )
    queries = workflow_queries(test, within_s=max(limits.windows))
    return _log_and_promote(
        name="floyo-workflows", scope=scope, python_model=WorkflowsPyfunc(), artifact=model.to_json(), params=model.limits,
        data={**window, "engine": miner.engine if miner else LOCAL_ENGINE, "train_actions": n_train,
              "test_queries": len(queries),
              "workflows": len(model.workflows)},
        ranked=[model.rank(u, a, p or None) for u, a, _, p in queries], truth=[b for _, _, b, _ in queries],
        model_input=workflows_input(queries or [("", "modify:py", "", "")]), metrics=hit_metrics,
    )  # fmt: skip


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
    extra: dict[str, float] | None = None,
    scope: str = "lake",
) -> dict[str, Any]:
    """Log one model (its held-out scores and ``extra`` metrics: the baselines', the validation ones) under the
    registered name of its scope; score that name's champion on the same held-out queries; promote if strictly
    better. A lake run also replaces a global champion that no lake run made (one registered before scopes)."""
    from models import tracking

    name = tracking.scoped_name(name, scope)
    scores = metrics(ranked, truth)
    n_truth = len(truth)
    previous = tracking.champion_version(name)
    foreign = previous is not None and scope == tracking.GLOBAL_SCOPE and tracking.champion_scope(name) != scope
    champion_score = None
    if previous is not None:
        predicted = tracking.load(name).predict(model_input)["ranked"][:n_truth] if n_truth else []
        champion_score = metrics([list(r) for r in predicted], truth)[PROMOTION_METRIC]
    logged = tracking.log_model_run(
        name=name, python_model=python_model, artifact=artifact, params=params,
        metrics=scores | (extra or {}), data=data, input_example=model_input.head(5), scope=scope,
    )  # fmt: skip
    promoted = champion_score is None or foreign or scores[PROMOTION_METRIC] > champion_score
    if promoted:
        tracking.promote(logged)
    return {
        "name": name, "scope": scope, "engine": data.get("engine", LOCAL_ENGINE), "version": logged.version,
        "run_id": logged.run_id,
        PROMOTION_METRIC: scores[PROMOTION_METRIC],
        "champion_before": previous, f"champion_{PROMOTION_METRIC}": champion_score, "promoted": promoted,
    }  # fmt: skip


def window_of(split: Split, source: str) -> dict[str, Any]:
    """The data window: where the rows came from and the time range and size of each part."""
    heads = split.heads

    def text(row: int) -> str:  # an event's time, as the window logs it
        return str(split.events["ts"].gather([int(row)]).cast(pl.String)[0])

    train_end = text(heads["last"][split.n_train - 1]) if split.n_train else None
    test_start = text(heads["first"][split.n_train]) if split.n_train < heads.height else None
    return {
        "source": source,
        "train_start": text(heads["first"][0]), "train_end": train_end,
        "test_start": test_start, "test_end": text(heads["last"][-1]),
        "transactions": heads.height, "train_transactions_all": split.n_train,
        "events": split.events.height,
    }  # fmt: skip


def baseline_table(metrics: dict[str, float], ks: tuple[str, ...] = ("hr1", "hr3", "hr5", "mrr")) -> pl.DataFrame:
    """``model, metric, value`` of a logged next-action run's metrics: the model's own (``hr1``, ...) as ``floyo``
    beside each baseline's (``baseline_<name>_<metric>``), for the metrics ``ks``."""
    rows = [{"model": "floyo", "metric": k, "value": float(metrics[k])} for k in ks if k in metrics]
    for key, value in sorted(metrics.items()):
        name, _, metric = key.removeprefix("baseline_").rpartition("_")
        if key.startswith("baseline_") and metric in ks:
            rows.append({"model": name, "metric": metric, "value": float(value)})
    return pl.DataFrame(rows, schema={"model": pl.String, "metric": pl.String, "value": pl.Float64})
