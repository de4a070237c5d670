"""Training data from the lake: events (sessions as transactions), the ``transactions`` and ``sequences`` tables.

Users in the lake are ids; ``--user`` takes a user name (looked up in PostgreSQL) or an id. ``since`` keeps the
events, sessions and actions from that time on; ``max_events`` keeps the most recent events only
(``FLOYO_TRAIN_MAX_EVENTS``, unset by default: the whole lake; every model works on columns, so memory grows
with the window by a flat amount per event).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar

import polars as pl

from features import lake
from features.sessions import assign_sessions
from floyo.errors import InvalidInput, NotFound
from floyo.settings import Settings
from models.train import Progress, TrainingData, train_all
from models.users import resolve_user

FrameT = TypeVar("FrameT", pl.DataFrame, pl.LazyFrame)
EVENT_COLUMNS = ("seq", "user_id", "ts", "kind", "path", "ext", "tool")


def training_data(
    settings: Settings, *, user_id: int | None = None, since: datetime | None = None, max_events: int | None = None
) -> TrainingData:
    """Events, transactions and actions of the lake, for one user or everyone, from ``since`` on."""
    events = _filtered(lake.events(settings).select(EVENT_COLUMNS), user_id, since, "ts")
    if max_events is not None:
        events = events.sort("ts", "seq").tail(max_events)
    # one plan, collected once: the model's columns are made before the sort into time order, so the lake's own
    # text columns are never held twice
    frame = (
        model_events(assign_sessions(events), keep=("seq",))
        .sort("ts", "seq", maintain_order=True)
        .drop("seq")
        .collect()
    )
    if frame.is_empty():
        raise InvalidInput("no_events", "the lake holds no events for this selection: run `floyo export` first")
    start = frame["ts"].min()
    transactions = _table(settings, "transactions", user_id, since).filter(pl.col("start") >= start)
    sequences = _table(settings, "sequences", user_id, since).filter(pl.col("start") >= start)
    source = f"lake:{settings.lake_path}" + (f" user={user_id}" if user_id is not None else "")
    return TrainingData(frame, _items(transactions.collect()), _actions(sequences.collect()), source)


def _filtered(frame: pl.LazyFrame, user_id: int | None, since: datetime | None, ts: str) -> pl.LazyFrame:
    if user_id is not None:
        frame = frame.filter(pl.col("user_id") == user_id)
    if since is not None:
        frame = frame.filter(pl.col(ts) >= since)
    return frame


def _table(settings: Settings, name: str, user_id: int | None, since: datetime | None) -> pl.LazyFrame:
    try:
        return _filtered(lake.table(name, settings), user_id, since, "start")
    except FileNotFoundError:
        raise NotFound("no_features", f"the lake has no {name} table: run `floyo features build`") from None


def model_events(frame: FrameT, *, keep: tuple[str, ...] = ()) -> FrameT:
    """The models' plain frame; a session is a transaction (``group``). The item the next-action model predicts
    (its ``ext`` column) is the action (``modify:csv``, ``run:pytest``), and a run's "path" is ``run:<tool>``, so
    co-change relates files and the tools run beside them."""
    from features.sequences import action

    is_run = pl.col("kind") == "run"
    return frame.select(
        pl.col("user_id").cast(pl.String), "ts", "kind",
        pl.when(is_run).then(pl.lit("run:") + pl.col("tool").fill_null("?")).otherwise(pl.col("path")).alias("path"),
        action().fill_null("run:?").alias("ext"), "tool", pl.col("session_id").cast(pl.String).alias("group"), *keep,
    )  # fmt: skip


def _items(transactions: pl.DataFrame) -> pl.DataFrame:
    """``user_id, transaction_id, ts, item`` rows, oldest session first; a transaction is named by its session's
    stable key, which the rules keep as evidence (the dense ``session_id`` changes when events are appended)."""
    return (
        transactions.sort("start", "session_key")
        .select(
            pl.col("user_id").cast(pl.String),
            pl.col("session_key").alias("transaction_id"),
            pl.col("start").alias("ts"),
            pl.col("items").alias("item"),
        )
        .explode("item", empty_as_null=True)
        .drop_nulls("item")
    )


def _actions(sequences: pl.DataFrame) -> pl.DataFrame:
    """``user_id, ts, item``: each session's actions at their times (start + running sum of the deltas)."""
    # each session's running sum is taken in its list (the same additions, in the same order, as a window per session)
    offsets = pl.col("deltas_s").list.eval(pl.element().cum_sum())
    exploded = sequences.select("user_id", "start", "actions", offsets).explode(
        ["actions", "deltas_s"], empty_as_null=True
    )
    offset = pl.col("deltas_s") * 1_000_000
    return exploded.select(
        pl.col("user_id").cast(pl.String),
        (pl.col("start") + pl.duration(microseconds=offset.cast(pl.Int64))).alias("ts"),
        pl.col("actions").alias("item"),
    ).sort("user_id", "ts", maintain_order=True)


def train_from_lake(
    settings: Settings,
    *,
    user: str | None = None,
    since: datetime | None = None,
    test_frac: float = 0.2,
    progress: Progress | None = None,
    engine: str | None = None,
    master: str | None = None,
) -> list[dict[str, Any]]:
    """Train, log and maybe promote every family on the lake: everyone's events (scope ``lake``, the global
    models) or one user's (scope ``user:<user>``, registered under names of their own). ``engine`` (default
    ``FLOYO_TRAIN_ENGINE``) ``spark`` mines the rules and workflows on Spark at ``master`` (``FLOYO_SPARK_MASTER``)."""
    engine = engine or settings.train_engine
    if engine not in ("local", "spark"):
        raise InvalidInput("bad_engine", f"unknown training engine {engine!r}: local or spark")
    if engine == "spark":
        from models.spark.session import require_pyspark

        require_pyspark()  # before the data is read: a missing extra fails in a second, not after minutes
    user_id = resolve_user(user, settings) if user is not None else None
    data = training_data(settings, user_id=user_id, since=since, max_events=settings.train_max_events)
    # everyone's events (with or without ``since``) is the global scope; one user's is a scope of its own, which
    # never moves the global champions
    data.scope = "lake" if user is None else f"user:{user}"
    if progress:
        progress("data")
    if engine == "local":
        return train_all(data, test_frac=test_frac, progress=progress)
    from models.spark.session import spark_session
    from models.spark.train import SparkMiner

    with spark_session(master or settings.spark_master) as spark:
        miner = SparkMiner(spark, settings.spark_lake_url or str(settings.lake_path), user_id=user_id, since=since)
        return train_all(data, test_frac=test_frac, progress=progress, miner=miner)
