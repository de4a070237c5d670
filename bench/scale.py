"""Training at scale: the local engine beside the Spark engine (``local[2]``) on lakes of 2M, 10M and 30M events.

    .venv/bin/python -m bench.scale                          # 2 M, 10 M and 30 M: about an hour on 2 cores, 17 GB peak
    .venv/bin/python -m bench.scale --sizes 2000000 10000000 # without 30 M: under 20 minutes, 7 GB

Each lake is ``bench.train.write_lake``'s (the 50 synthetic personas tiled over a year and over new users), then
``build_features``. The local engine runs exactly what ``floyo train`` runs on the whole lake in one window
(``models.lakedata.training_data`` with ``max_events`` = the lake, then ``models.train.train_all`` into a
temporary MLflow store): time per family, the process's peak RSS and its children's (the per-user rules' workers,
summed, sampled every 0.2 s). The Spark engine then mines the same two families, rules (MLlib FPGrowth)
and workflows (Spark SQL), on the same train window through ``models.spark.train.SparkMiner`` at ``local[2]``:
its time, and the JVM's peak RSS. Its models are compared with the ones the local run logged to MLflow, in the
run: the table is printed only when they are equal. Writing the lake, the local engine and Spark each run in a process of their own, so each one's
peak is its own and the next starts with the memory the last one gave back.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from bench.train import peak_mb, reset_peak, write_lake

T = TypeVar("T")
DEFAULT_SIZES = (2_000_000, 10_000_000, 30_000_000)
SPARK_MASTER = "local[2]"
SPARK_CONFIG = {"spark.driver.memory": "6g"}  # local mode: the driver is the executor


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


class ChildrenPeak:
    """The peak of this process's children's summed RSS, sampled every 0.2 s in a thread (the kernel's maxrss of a
    child is no measure: a forked child starts with its parent's pages, so it reports the parent's size)."""

    def __init__(self) -> None:
        self.peak = 0.0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        import psutil

        me = psutil.Process()
        while not self._done.wait(0.2):
            total = 0
            for child in me.children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    total += child.memory_info().rss
            self.peak = max(self.peak, total / 2**20)

    def stop(self) -> float:
        """Stop sampling; the peak in MB."""
        self._done.set()
        self._thread.join()
        return self.peak


def in_child(fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` in a fresh process: each phase's peak memory is its own, and all of it is given back before
    the next phase starts (30M events: the local engine's memory and the JVM's would not fit together)."""
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(fn, *args).result()


def _environment(n_events: int, tmp: Path) -> None:
    os.environ.update({"FLOYO_DATA_DIR": str(tmp / str(n_events)), "FLOYO_LOG_LEVEL": "WARNING"})
    os.environ.pop("FLOYO_TRAIN_MAX_EVENTS", None)
    from floyo.settings import get_settings

    get_settings.cache_clear()


def build_lake(n_events: int, tmp: Path) -> int:
    """Write the lake of ``n_events`` events and its feature tables."""
    from features.build import build_features
    from floyo.settings import get_settings

    _environment(n_events, tmp)
    lake = get_settings().lake_path
    written = write_lake(lake, n_events)
    build_features(lake)
    return written


def train_local(n_events: int, tmp: Path) -> dict[str, Any]:
    """``floyo train``'s local engine on the whole lake in one window: seconds per step, this process's peak RSS
    and its workers' (the per-user rules' processes), the held-out window's start and the models it logged."""
    from floyo.settings import get_settings
    from models.lakedata import training_data
    from models.protocol import time_split
    from models.train import _test_start, train_all

    _environment(n_events, tmp)
    reset_peak()
    children = ChildrenPeak()
    start = time.perf_counter()
    data = training_data(get_settings(), max_events=n_events)  # the whole lake, one window
    steps: dict[str, float] = {"data": time.perf_counter() - start}
    last = [time.perf_counter()]

    def step(name: str) -> None:
        steps[name] = time.perf_counter() - last[0]
        last[0] = time.perf_counter()

    train_all(data, progress=step)
    return {
        "local": steps, "local_total": time.perf_counter() - start, "local_peak_mb": peak_mb(),
        "local_workers_peak_mb": children.stop(),
        "users": data.events["user_id"].n_unique(), "cut": _test_start(data.events, time_split(data.events)),
        "expected": {name: logged_artifact(name) for name in ("floyo-rules", "floyo-workflows")},
    }  # fmt: skip


def mine_spark(n_events: int, tmp: Path, cut: datetime | None) -> dict[str, Any]:
    """The same two families on Spark ``local[2]``: times, the JVM's and its workers' peak RSS, the models."""
    from floyo.settings import get_settings
    from models.rules import RuleLimits
    from models.spark.session import build_session
    from models.spark.train import SparkMiner
    from models.workflows import WorkflowLimits

    _environment(n_events, tmp)
    out: dict[str, Any] = {}
    start = time.perf_counter()
    spark = build_session(SPARK_MASTER, app_name="floyo-bench-scale", config=SPARK_CONFIG)
    out["spark_start"] = time.perf_counter() - start
    try:
        miner = SparkMiner(spark, str(get_settings().lake_path))
        start = time.perf_counter()
        rules = miner.rules(cut, RuleLimits.from_settings())
        out["spark_rules"] = time.perf_counter() - start
        start = time.perf_counter()
        workflows, _ = miner.workflows(cut, WorkflowLimits())
        out["spark_workflows"] = time.perf_counter() - start
        out["spark_peak_mb"] = jvm_peak_mb()
    finally:
        spark.stop()
    out["models"] = {"floyo-rules": rules.to_json(), "floyo-workflows": workflows.to_json()}
    out["rules"], out["workflows"] = len(rules.rules), len(workflows.workflows)
    return out


def run_size(n_events: int, tmp: Path) -> dict[str, Any]:
    """One lake: write it, train it locally, mine it on Spark, compare; each in a process of its own."""
    start = time.perf_counter()
    out: dict[str, Any] = {"events": in_child(build_lake, n_events, tmp), "lake_s": time.perf_counter() - start}
    out.update(in_child(train_local, n_events, tmp))
    expected = out.pop("expected")
    print(f"{n_events:,} events, local engine:", json.dumps(out, default=str), flush=True)  # kept if Spark fails
    out.update(in_child(mine_spark, n_events, tmp, out["cut"]))
    out["equal"] = out.pop("models") == expected
    if not out["equal"]:
        raise SystemExit(f"{n_events:,} events: the Spark engine's rules or workflows differ from the local engine's")
    shutil.rmtree(tmp / str(n_events), ignore_errors=True)  # 30M events: gigabytes of lake
    return out


def table(results: list[dict[str, Any]]) -> str:
    """The side-by-side table, one row per lake."""
    lines = [
        "| events | users | local: data + four families (s) | local rules (s) | local workflows (s) "
        "| local peak RSS (MB): process, its rules workers "
        "| Spark start (s) | Spark rules (s) | Spark workflows (s) | Spark JVM + workers peak RSS (MB) | rules, workflows | equal |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|:---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['events']:,} | {r['users']:,} | {r['local_total']:.1f} | {r['local']['floyo-rules']:.1f} "
            f"| {r['local']['floyo-workflows']:.1f} | {r['local_peak_mb']:,.0f}, {r['local_workers_peak_mb']:,.0f} "
            f"| {r['spark_start']:.1f} "
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
