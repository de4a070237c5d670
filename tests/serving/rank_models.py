"""Trivial rankers logged to a temporary MLflow store as ``floyo-ranker`` versions (pickled by reference: the
server process imports this module)."""

from __future__ import annotations

from typing import Any

from mlflow.pyfunc.model import PythonModel

import mlflow


class ScoreRanker(PythonModel):
    """Ranks by the transparent score times ``sign``: +1 keeps its order, -1 reverses it."""

    def __init__(self, sign: float) -> None:
        self.sign = sign

    def rank(self, suggestions: list[dict[str, Any]], history: list[dict[str, Any]]) -> list[float]:
        assert history, "the ranker is only asked once the user has answered"
        return [self.sign * s["score"] for s in suggestions]

    def predict(self, context, model_input, params=None):  # untyped: MLflow reads the hints
        return model_input


class BrokenRanker(ScoreRanker):
    """A champion that fails at request time."""

    def rank(self, suggestions: list[dict[str, Any]], history: list[dict[str, Any]]) -> list[float]:
        raise RuntimeError("this ranker is broken")


def register(model: ScoreRanker, *, champion: bool) -> str:
    """Log ``model`` as a new ``floyo-ranker`` version in the configured store; returns its version."""
    from models.tracking import CHAMPION, client, experiment_id

    c = client()
    # in the experiment models.tracking makes: its artifacts go beside the store, never into ./mlruns
    with mlflow.start_run(experiment_id=experiment_id("floyo-ranker")):
        info = mlflow.pyfunc.log_model(
            name="model", python_model=model, registered_model_name="floyo-ranker", pip_requirements=["mlflow"]
        )
    version = str(info.registered_model_version)
    if champion:
        c.set_registered_model_alias("floyo-ranker", CHAMPION, version)
    return version


def add_feedback(engine: Any, user_id: int, suggestion_id: str, action: str = "dismiss") -> None:
    """A past answer, as the feedback endpoint records it (written as the owner)."""
    from sqlalchemy import text

    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO suggestion_feedback (user_id, suggestion_id, action) VALUES (:u, :s, :a)"),
            {"u": user_id, "s": suggestion_id, "a": action},
        )
