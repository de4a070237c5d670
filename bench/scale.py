"""Training at scale: the local engine beside the Spark engine (``local[2]``) on lakes of 2M and 10M events.

    .venv/bin/python -m bench.scale                          # 2 M and 10 M events
    .venv/bin/python -m bench.scale --sizes 2000000          # one size
    .venv/bin/python -m bench.scale --sizes 30000000         # 30 M: needs the columnar local engine and hours

Each lake is ``bench.train.write_lake``'s (the 50 synthetic personas tiled over a year and over new users), then
``build_features``. The local engine runs exactly what ``floyo train`` runs on the whole lake in one window
(``models.lakedata.training_data`` with ``max_events`` = the lake, then ``models.train.train_all`` into a
temporary MLflow store): time per family and the process's peak RSS. The Spark engine then mines the same two
families, rules (MLlib FPGrowth) and workflows (Spark SQL), on the same train window through
``models.spark.train.SparkMiner`` at ``local[2]``: its time, and the JVM's peak RSS. Its models are compared
with the ones the local run logged to MLflow, in the run: the table is printed only when they are equal.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl

from bench.train import peak_mb, reset_peak, write_lake

DEFAULT_SIZES = (2_000_000, 10_000_000)
SPARK_MASTER = "local[2]"
SPARK_CONFIG = {"spark.driver.memory": "6g"}  # local mode: the driver is the executor


def held_out_start(events: pl.DataFrame, test_frac: float = 0.2) -> datetime | None:
    """Where ``train_all``'s held-out window starts: the first event of the first test transaction, transactions
    ordered by their first event (``models.protocol.time_split``), computed on the columns."""
    starts = events.group_by("group").agg(pl.col("ts").min()).sort("ts")["ts"]
    n_train = round(len(starts) * (1 - test_frac))
    return starts[n_train] if n_train < len(starts) else None


def logged_artifact(name: str) -> dict[str, Any]:
    """The JSON artifact of the latest version of a registered model."""
    import mlflow
    from models import tracking

    version = max(tracking.client().search_model_versions(f"name='{name}'"), key=lambda v: int(v.version))
    folder = mlflow.artifacts.download_artifacts(run_id=str(version.run_id), artifact_path="model/artifacts")
    return dict(json.loads(next(Path(folder).rglob("*.json")).read_text()))


def jvm_peak_mb() -> float:
    """The peak RSS (VmHWM) of this process's child processes: the JVM, and Spark's Python workers."""
    import psutil

    total = 0.0
    for child in psutil.Process().children(recursive=True):
        try:
            status = Path(f"/proc/{child.pid}/status").read_text()
        except OSError:
            continue
        total += next((int(line.split()[1]) / 1024 for line in status.splitlines() if line.startswith("VmHWM:")), 0)
    return total


def run_size(n_events: int, tmp: Path) -> dict[str, Any]:
    """One lake: write it, train it locally, mine it on Spark, compare."""
    from features.build import build_features
    from floyo.settings import get_settings
    from models.lakedata import training_data
    from models.rules import RuleLimits
    from models.spark.session import build_session
    from models.spark.train import SparkMiner
    from models.train import train_all
    from models.workflows import WorkflowLimits

    os.environ.update(
        {"FLOYO_DATA_DIR": str(tmp / str(n_events)), "FLOYO_MLFLOW_URI": f"sqlite:///{tmp}/{n_events}.db"}
    )
    get_settings.cache_clear()
    settings = get_settings()
    out: dict[str, Any] = {"events": write_lake(settings.lake_path, n_events)}
    build_features(settings.lake_path)
    reset_peak()
    start = time.perf_counter()
    data = training_data(settings, max_events=n_events)  # the whole lake, one window
    steps: dict[str, float] = {"data": time.perf_counter() - start}
    last = [time.perf_counter()]

    def step(name: str) -> None:
        steps[name] = time.perf_counter() - last[0]
        last[0] = time.perf_counter()

    train_all(data, progress=step)
    out.update(local=steps, local_total=time.perf_counter() - start, local_peak_mb=peak_mb(),
               users=data.events["user_id"].n_unique())  # fmt: skip
    print(f"{n_events:,} events, local engine:", json.dumps(out), flush=True)  # kept even if Spark fails later
    cut = held_out_start(data.events)
    expected = {name: logged_artifact(name) for name in ("floyo-rules", "floyo-workflows")}
    del data
    start = time.perf_counter()
    spark = build_session(SPARK_MASTER, app_name="floyo-bench-scale", config=SPARK_CONFIG)
    out["spark_start"] = time.perf_counter() - start
    try:
        miner = SparkMiner(spark, str(settings.lake_path))
        start = time.perf_counter()
        rules = miner.rules(cut, RuleLimits.from_settings())
        out["spark_rules"] = time.perf_counter() - start
        start = time.perf_counter()
        workflows, _ = miner.workflows(cut, WorkflowLimits())
        out["spark_workflows"] = time.perf_counter() - start
        out["spark_peak_mb"] = jvm_peak_mb()
    finally:
        spark.stop()
    out["equal"] = rules.to_json() == expected["floyo-rules"] and workflows.to_json() == expected["floyo-workflows"]
    out["rules"], out["workflows"] = len(rules.rules), len(workflows.workflows)
    if not out["equal"]:
        raise SystemExit(f"{n_events:,} events: the Spark engine's rules or workflows differ from the local engine's")
    return out


def table(results: list[dict[str, Any]]) -> str:
    """The side-by-side table, one row per lake."""
    lines = [
        "| events | users | local: data + four families (s) | local rules (s) | local workflows (s) | local peak RSS (MB) "
        "| Spark start (s) | Spark rules (s) | Spark workflows (s) | Spark JVM + workers peak RSS (MB) | rules, workflows | equal |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|:---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['events']:,} | {r['users']:,} | {r['local_total']:.1f} | {r['local']['floyo-rules']:.1f} "
            f"| {r['local']['floyo-workflows']:.1f} | {r['local_peak_mb']:,.0f} | {r['spark_start']:.1f} "
            f"| {r['spark_rules']:.1f} | {r['spark_workflows']:.1f} | {r['spark_peak_mb']:,.0f} "
            f"| {r['rules']:,}, {r['workflows']:,} | {'yes' if r['equal'] else 'NO'} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=list(DEFAULT_SIZES), help="lake sizes, in events")
    args = parser.parse_args()
    os.environ.setdefault("FLOYO_LOG_LEVEL", "WARNING")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["FLOYO_MLFLOW_URI"] = f"sqlite:///{tmp}/mlflow.db"  # one store: each size logs new versions
        for n in args.sizes:
            results.append(run_size(n, Path(tmp)))
            print(f"{n:,} events: done", json.dumps(results[-1], default=str), flush=True)
    print(f"{os.cpu_count()} cores; Spark {SPARK_MASTER} with {SPARK_CONFIG}; local engine: whole lake in one window")
    print(table(results))


if __name__ == "__main__":
    main()
