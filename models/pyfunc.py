"""The models as MLflow pyfunc models: a JSON artifact read in ``load_context``, DataFrames in and out."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from mlflow.pyfunc.model import PythonModel

from models.cochange import CoChangeModel, cochange_from_json
from models.findings import RulesModel, WorkflowsModel
from models.next_action import NextActionModel
from models.next_action_ranker import NextActionRanker, model_from_json
from models.protocol import Step


class NextActionPyfunc(PythonModel):
    """Input: ``user, prev, prev_dir, prev2`` (``''`` when unknown) and, for the re-ranker, ``history`` (the last
    items, newline-separated, oldest first), ``prev_ts`` and ``prev_gap_s`` (seconds; empty when unknown); output:
    ``ranked``, the top items."""

    model: NextActionModel | NextActionRanker

    def load_context(self, context: Any) -> None:
        """Read the fitted model (the Markov or the re-ranker) from its JSON artifact."""
        self.model = model_from_json(json.loads(Path(context.artifacts["model"]).read_text()))

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        """The ranked next items for each row (all of them, or ``params["top_k"]``)."""
        k = _top_k(params)
        ranked = [r[:k] for r in self.model.rank_many(_steps(model_input))]
        return pd.DataFrame({"ranked": ranked})


def _steps(frame: pd.DataFrame) -> list[Step]:
    """The steps of a next-action input; the columns the Markov alone needs are enough."""
    n = len(frame)
    history = frame["history"] if "history" in frame else [""] * n
    ts = frame["prev_ts"] if "prev_ts" in frame else [None] * n
    gap = frame["prev_gap_s"] if "prev_gap_s" in frame else [None] * n
    return [
        Step(str(user), str(prev), str(d), str(p2) or None, "", 0,
             tuple(x for x in h.split("\n") if x) if isinstance(h, str) else (), _number(t), _number(g))
        for user, prev, d, p2, h, t, g in zip(
            frame["user"], frame["prev"], frame["prev_dir"], frame["prev2"], history, ts, gap, strict=True
        )
    ]  # fmt: skip


def _number(value: Any) -> float | None:
    """A float, or None for a missing value (None, NaN or '')."""
    return None if value is None or value == "" or pd.isna(value) else float(value)


class CoChangePyfunc(PythonModel):
    """Input: ``items``, the items changed so far, separated by newlines; output: ``ranked``, what else changes."""

    model: CoChangeModel

    def load_context(self, context: Any) -> None:
        """Read the fitted model from its JSON artifact."""
        self.model = cochange_from_json(json.loads(Path(context.artifacts["model"]).read_text()))

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        """The ranked co-changed items for each row (all of them, or ``params["top_k"]``)."""
        k = _top_k(params)
        ranked = [self.model.rank([x for x in str(items).split("\n") if x])[:k] for items in model_input["items"]]
        return pd.DataFrame({"ranked": ranked})


def _top_k(params: dict[str, Any] | None) -> int | None:
    k = (params or {}).get("top_k")
    return int(k) if k else None


def next_action_input(steps: Iterable[Step]) -> pd.DataFrame:
    """The pyfunc input for next-action queries (NaN for an unknown time or gap)."""
    steps = list(steps)  # a generator or ``Steps``: read once, each column walks them
    return pd.DataFrame(
        {
            "user": [s.user for s in steps],
            "prev": [s.prev for s in steps],
            "prev_dir": [s.prev_dir for s in steps],
            "prev2": [s.prev2 or "" for s in steps],
            "history": ["\n".join(s.history) for s in steps],
            "prev_ts": pd.Series([s.prev_ts for s in steps], dtype="float64"),
            "prev_gap_s": pd.Series([s.prev_gap_s for s in steps], dtype="float64"),
        }
    )


def cochange_input(queries: list[list[str]]) -> pd.DataFrame:
    """The pyfunc input for co-change queries."""
    return pd.DataFrame({"items": ["\n".join(q) for q in queries]})


class RulesPyfunc(PythonModel):
    """Input: ``user, items`` (the items touched so far, newline-separated); output: ``ranked``, what else."""

    model: RulesModel

    def load_context(self, context: Any) -> None:
        """Read the mined rules from their JSON artifact."""
        self.model = RulesModel.from_json(json.loads(Path(context.artifacts["model"]).read_text()))

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        """The ranked items each row's session will touch next (all of them, or ``params["top_k"]``)."""
        k = _top_k(params)
        ranked = [
            self.model.rank(str(r.user), [x for x in str(r.items).split("\n") if x])[:k]
            for r in model_input.itertuples(index=False)
        ]
        return pd.DataFrame({"ranked": ranked})


class WorkflowsPyfunc(PythonModel):
    """Input: ``user, item`` (an action such as ``modify:csv``) and optionally ``previous`` (the action before it,
    ``''`` when unknown); output: ``ranked``, the workflows' next actions (longer workflows that match first)."""

    model: WorkflowsModel

    def load_context(self, context: Any) -> None:
        """Read the mined workflows from their JSON artifact."""
        self.model = WorkflowsModel.from_json(json.loads(Path(context.artifacts["model"]).read_text()))

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        """The ranked next actions of each row's workflows (all of them, or ``params["top_k"]``)."""
        k = _top_k(params)
        previous = model_input["previous"] if "previous" in model_input else [""] * len(model_input)
        ranked = [
            self.model.rank(str(user), str(item), str(before) if isinstance(before, str) and before else None)[:k]
            for user, item, before in zip(model_input["user"], model_input["item"], previous, strict=True)
        ]
        return pd.DataFrame({"ranked": ranked})


def rules_input(queries: list[tuple[str, list[str], str]]) -> pd.DataFrame:
    """The pyfunc input for rule queries ``(user, items, hidden)``."""
    return pd.DataFrame({"user": [q[0] for q in queries], "items": ["\n".join(q[1]) for q in queries]})


def workflows_input(queries: Sequence[tuple[str, ...]]) -> pd.DataFrame:
    """The pyfunc input for workflow queries ``(user, item, next[, previous])``."""
    return pd.DataFrame(
        {
            "user": [q[0] for q in queries],
            "item": [q[1] for q in queries],
            "previous": [q[3] if len(q) > 3 else "" for q in queries],
        }
    )
