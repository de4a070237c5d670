"""A SparkSession for mining, or a one-line error saying how to install PySpark when it is missing."""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from floyo.errors import Unavailable

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

DEFAULT_MASTER = "local[*]"
INSTALL_HINT = "pip install 'floyo[spark]' (and a Java runtime: apt-get install default-jre-headless)"


def require_pyspark() -> None:
    """Raise ``Unavailable`` unless PySpark is importable."""
    if importlib.util.find_spec("pyspark") is None:
        raise Unavailable("spark_unavailable", f"--engine spark needs PySpark, which is not installed: {INSTALL_HINT}")


def build_session(
    master: str = DEFAULT_MASTER, *, app_name: str = "floyo-train", config: dict[str, str] | None = None
) -> SparkSession:
    """A SparkSession on ``master`` (``local[*]``, ``spark://host:7077``, ``yarn``…), UTC, quiet, with the
    driver's Python on the executors (a cluster's executors need floyo installed: docs/models.md)."""
    require_pyspark()
    from pyspark.sql import SparkSession

    # the executors' Python workers must import ``models``: the driver's interpreter (and PYTHONPATH) it is
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    builder = (
        SparkSession.builder.master(master)
        .appName(app_name)
        .config("spark.sql.session.timeZone", "UTC")  # days and timestamps as the local engine sees them: UTC
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")  # floyo prints its own progress
    )
    if master.startswith("local"):  # one machine: a shuffle partition per core, not Spark's 200 tiny tasks per join
        cores = master.removeprefix("local").strip("[]").split(",")[0]
        builder = builder.config(
            "spark.sql.shuffle.partitions", str(os.cpu_count() or 2) if cores in ("", "*") else cores
        )
    for key, value in (config or {}).items():  # e.g. spark.driver.memory, before the JVM starts
        builder = builder.config(key, value)
    try:
        session = builder.getOrCreate()
    except Exception as exc:  # the JVM did not start (no Java, bad master URL): one line, not a Java stack
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise Unavailable("spark_unavailable", f"Spark did not start on {master}: {first} ({INSTALL_HINT})") from None
    session.sparkContext.setLogLevel("ERROR")
    # py4j logs each connection it closes at INFO, some from finalisers at interpreter exit, after the handlers'
    # streams are closed ("--- Logging error ---"): its INFO is of no use to Floyo
    logging.getLogger("py4j").setLevel(logging.WARNING)
    return session


@contextmanager
def spark_session(master: str = DEFAULT_MASTER) -> Iterator[SparkSession]:
    """A session for the length of a block: the active one if there is one (a notebook's, a test module's),
    left running; else ``build_session``, stopped after the block."""
    require_pyspark()
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        yield active
        return
    session = build_session(master)
    try:
        yield session
    finally:
        session.stop()
