"""The Spark engine's part of ``floyo train --engine spark``: a ``models.train.Miner`` over the lake.

Spark mines the two families whose cost grows with the whole history, association rules and workflows, over
the lake's ``transactions`` and ``sequences`` tables (every row before the held-out window, whatever
``FLOYO_TRAIN_MAX_EVENTS`` says). Next action and co-change, the time split and the held-out scoring stay on
the local engine in the same run, so the four families are logged, compared and promoted exactly as a local
run's (docs/models.md, "The Spark engine").
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from models.findings import RulesModel, WorkflowsModel
from models.rules import RuleLimits
from models.workflows import WorkflowLimits

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

ENGINE = "spark"


class SparkMiner:
    """Rules and workflows of one lake (a directory or a URL Spark reads), for everyone or one user."""

    engine = ENGINE

    def __init__(
        self, spark: SparkSession, lake: str, *, user_id: int | None = None, since: datetime | None = None
    ) -> None:
        self.spark, self.lake, self.user_id, self.since = spark, lake, user_id, since

    def rules(self, cut: datetime | None, limits: RuleLimits) -> RulesModel:
        """Global and per-user rules of the transactions before ``cut``."""
        from models.spark import data
        from models.spark.rules import mine_rules

        rows = data.transactions(self.spark, self.lake, user_id=self.user_id, since=self.since)
        return mine_rules(data.before(rows, cut), limits=limits)

    def workflows(self, cut: datetime | None, limits: WorkflowLimits) -> tuple[WorkflowsModel, int]:
        """Workflows of the actions before ``cut``, and how many actions that was."""
        from models.spark import data
        from models.spark.workflows import mine_workflows

        rows = data.before(data.actions(self.spark, self.lake, user_id=self.user_id, since=self.since), cut)
        return WorkflowsModel.of_found(mine_workflows(rows, limits=limits), limits), rows.count()
