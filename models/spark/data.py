"""The lake's ``transactions`` and ``sequences`` tables as Spark DataFrames, in the local engine's shapes
(``models.lakedata``): transactions ``user_id, transaction_id, ts, item``; actions ``user_id, ts, item`` (plus
``session_id, pos``, which order a user's actions at the same instant as the local engine does)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


def table_url(lake: str, name: str) -> str:
    """Where a feature table lies in a lake given as a directory or a URL (``s3a://bucket/lake``)."""
    return f"{lake.rstrip('/')}/{name}/{name}.parquet"


def _read(spark: SparkSession, lake: str, name: str, user_id: int | None, since: datetime | None) -> DataFrame:
    from pyspark.sql import functions as F  # noqa: N812

    frame = spark.read.parquet(table_url(lake, name))
    if user_id is not None:
        frame = frame.filter(F.col("user_id") == user_id)
    if since is not None:
        frame = frame.filter(F.col("start") >= F.lit(since))
    return frame


def transactions(
    spark: SparkSession, lake: str, *, user_id: int | None = None, since: datetime | None = None
) -> DataFrame:
    """One row per transaction and item (sessions without items have no row, as in the local engine)."""
    from pyspark.sql import functions as F  # noqa: N812

    return _read(spark, lake, "transactions", user_id, since).select(
        F.col("user_id").cast("string").alias("user_id"),
        F.col("session_key").alias("transaction_id"),
        F.col("start").alias("ts"),
        F.explode("items").alias("item"),
    )


def actions(spark: SparkSession, lake: str, *, user_id: int | None = None, since: datetime | None = None) -> DataFrame:
    """Each session's actions at their times: start plus the running sum of the deltas, in whole microseconds
    (the local engine's arithmetic: the same float sum, truncated the same way)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F  # noqa: N812

    steps = _read(spark, lake, "sequences", user_id, since).select(
        "session_id", "user_id", "start", F.posexplode(F.arrays_zip("actions", "deltas_s")).alias("pos", "step")
    )
    running = Window.partitionBy("session_id").orderBy("pos").rowsBetween(Window.unboundedPreceding, Window.currentRow)
    offset = (F.sum(F.col("step.deltas_s")).over(running) * 1_000_000).cast("long")
    return steps.select(
        F.col("user_id").cast("string").alias("user_id"),
        F.timestamp_micros(F.unix_micros("start") + offset).alias("ts"),
        F.col("step.actions").alias("item"),
        "session_id",
        "pos",
    )


def before(frame: DataFrame, cut: datetime | None) -> DataFrame:
    """The rows before the held-out window (all of them without one)."""
    from pyspark.sql import functions as F  # noqa: N812

    return frame if cut is None else frame.filter(F.col("ts") < F.lit(cut))
