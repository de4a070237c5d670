"""The models as MLflow pyfunc models: a JSON artifact read in ``load_context``, DataFrames in and out."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
from mlflow.pyfunc.model import PythonModel

from models.cochange import CoChangeModel, cochange_from_json
from models.findings import RulesModel, WorkflowsModel
from models.next_action import NextActionModel, next_action_from_json
from models.protocol import Step


class NextActionPyfunc(PythonModel):
    """Input: ``user, prev, prev_dir, prev2`` (``''`` when unknown); output: ``ranked``, the top items."""

    model: NextActionModel

    def load_context(self, context: Any) -> None:
        """Read the fitted model from its JSON artifact."""
        self.model = next_action_from_json(json.loads(Path(context.artifacts["model"]).read_text()))

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        """The ranked next items for each row (all of them, or ``params["top_k"]``)."""
        k = _top_k(params)
        ranked = [
            self.model.rank(Step(str(r.user), str(r.prev), str(r.prev_dir), str(r.prev2) or None, "", 0))[:k]
            for r in model_input.itertuples(index=False)
        ]
        return pd.DataFrame({"ranked": ranked})


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


def next_action_input(steps: list[Step]) -> pd.DataFrame:
    """The pyfunc input for next-action queries."""
    return pd.DataFrame(
        {
            "user": [s.user for s in steps],
            "prev": [s.prev for s in steps],
            "prev_dir": [s.prev_dir for s in steps],
            "prev2": [s.prev2 or "" for s in steps],
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
    """Input: ``user, item`` (an action such as ``modify:csv``); output: ``ranked``, the workflow's next actions."""

    model: WorkflowsModel

    def load_context(self, context: Any) -> None:
        """Read the mined workflows from their JSON artifact."""
        self.model = WorkflowsModel.from_json(json.loads(Path(context.artifacts["model"]).read_text()))

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        """The ranked next actions of each row's workflows (all of them, or ``params["top_k"]``)."""
        k = _top_k(params)
        ranked = [self.model.rank(str(r.user), str(r.item))[:k] for r in model_input.itertuples(index=False)]
        return pd.DataFrame({"ranked": ranked})


def rules_input(queries: list[tuple[str, list[str], str]]) -> pd.DataFrame:
    """The pyfunc input for rule queries ``(user, items, hidden)``."""
    return pd.DataFrame({"user": [q[0] for q in queries], "items": ["\n".join(q[1]) for q in queries]})


def workflows_input(queries: list[tuple[str, str, str]]) -> pd.DataFrame:
    """The pyfunc input for workflow queries ``(user, item, next)``."""
    return pd.DataFrame({"user": [q[0] for q in queries], "item": [q[1] for q in queries]})
