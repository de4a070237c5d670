"""`floyo train` on a large lake: time and peak memory per step, beside the reference baseline on the same split.

    .venv/bin/python -m bench.train                        # a lake of 10 M synthetic events (the issue's size)
    .venv/bin/python -m bench.train --events 1000000
    .venv/bin/python -m bench.train --events 10000000 --max-events 2000000   # the old default window

The lake is written directly as Parquet (no PostgreSQL): the synthetic personas of ``features.synth`` (50 x 60
days, seed 0) tiled in time over a year and with new user ids up to ``--events``, then ``build_features``; then,
in the same run, ``training_data`` and ``train_all`` into a temporary MLflow store, exactly what ``floyo train``
runs. Each family's time is taken from the progress callback; peak memory is reset before each step. A run reads
the whole lake, or the most recent ``--max-events`` (``FLOYO_TRAIN_MAX_EVENTS``) and the feature tables of that
window. The
baseline is first-order Markov with popularity back-off fitted and scored on the same split.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import tempfile
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import TypeVar

import polars as pl

T = TypeVar("T")


def synth_frame() -> pl.DataFrame:
    """The 50-persona, 60-day synthetic events in the lake's columns."""
    from features import synth
    from floyo.events import extension_of

    data = synth.generate(personas=50, days=60, seed=0, end=date(2026, 11, 1))
    names = {u.name: i for i, u in enumerate(data.users)}
    rows = [
        {"user_id": names[u.name], "ts": e["ts"], "kind": e["kind"], "root": e["root"], "path": e["path"],
         "tool": e.get("tool")}
        for u in data.users for e in u.events
    ]  # fmt: skip
    return pl.DataFrame(rows).with_columns(
        pl.col("user_id").cast(pl.Int64),
        pl.col("ts").str.to_datetime(time_zone="UTC", time_unit="us"),
        pl.col("path").map_elements(lambda p: extension_of(p) or "", return_dtype=pl.String).alias("ext"),
    )


def write_lake(lake: Path, n_events: int, *, years: int = 1) -> int:
    """Tile the synthetic events up to ``n_events`` and write them as lake files: copies shifted by 60 days fill
    ``years`` of history, and copies with new user ids give as many users as that takes (a lake of 10M events:
    ~1,350 users with a year of ~7,500 events each)."""
    base = synth_frame()
    in_time = max(1, round(365 * years / 60))
    copies = -(-n_events // base.height)
    frame = (
        pl.concat([
            base.with_columns(pl.col("user_id") + (k // in_time) * 1000, pl.col("ts") + timedelta(days=60 * (k % in_time)))
            for k in range(copies)
        ])
        .head(n_events)
        .sort("ts")
        .with_row_index("seq", offset=1)
        .with_columns(pl.col("seq").cast(pl.Int64))
    )  # fmt: skip
    for (day,), part in frame.with_columns(d=pl.col("ts").dt.date()).partition_by("d", as_dict=True).items():
        folder = lake / "events" / ("date=" + str(day))
        folder.mkdir(parents=True, exist_ok=True)
        lo, hi = int(part["seq"].min()), int(part["seq"].max())  # type: ignore[arg-type]
        part.drop("d").write_parquet(folder / f"part-{lo}-{hi}-0.parquet")
    return frame.height


def peak_mb() -> float:
    """This process's peak resident memory so far (VmHWM), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--max-events", type=int, default=None, help="FLOYO_TRAIN_MAX_EVENTS (default: unset, all)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.update({"FLOYO_DATA_DIR": tmp, "FLOYO_MLFLOW_URI": f"sqlite:///{tmp}/mlflow.db",
                           "FLOYO_LOG_LEVEL": "WARNING"})  # fmt: skip
        os.environ.pop("FLOYO_TRAIN_MAX_EVENTS", None)
        if args.max_events is not None:
            os.environ["FLOYO_TRAIN_MAX_EVENTS"] = str(args.max_events)
        from features.build import build_features
        from floyo.settings import get_settings
        from models.lakedata import training_data
        from models.train import train_all

        settings = get_settings()
        n = write_lake(settings.lake_path, args.events)
        rows: list[tuple[str, float, float]] = []  # step, seconds, peak RSS during the step

        def timed(name: str, run: Callable[[], T]) -> T:
            reset_peak()
            t = time.perf_counter()
            out = run()
            rows.append((name, time.perf_counter() - t, peak_mb()))
            return out

        timed("features build", lambda: build_features(settings.lake_path))
        data = timed("training data", lambda: training_data(settings, max_events=settings.train_max_events))
        timed("baseline: markov1 + most-popular fit and score on the same split", lambda: markov1_baseline(data.events))
        reset_peak()
        last = [time.perf_counter()]

        def step(name: str) -> None:
            now = time.perf_counter()
            rows.append((f"  {name} (tune/mine, score, log, champion check)", now - last[0], peak_mb()))
            reset_peak()
            last[0] = time.perf_counter()

        results = train_all(data, progress=step)
        total = sum(s for name, s, _ in rows if name.startswith("  ") or name == "training data")
        users = data.events["user_id"].n_unique()
    print(f"lake of {n:,} events; training window {data.events.height:,} events of {users:,} users "
          f"(FLOYO_TRAIN_MAX_EVENTS={'unset' if args.max_events is None else f'{args.max_events:,}'}); "
          f"{os.cpu_count()} cores")  # fmt: skip
    print("| step | seconds | peak RSS (MB) |\n|---|---:|---:|")
    for name, s, mb in rows:
        print(f"| {name} | {s:.1f} | {mb:,.0f} |")
    print(f"| **floyo train total (data + four families)** | **{total:.1f}** | |")
    print("versions: " + ", ".join(f"{r['name']} v{r['version']}" for r in results))


def reset_peak() -> None:
    """Start a new peak-memory measurement (Linux: writing 5 to clear_refs resets VmHWM)."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def markov1_baseline(events: pl.DataFrame) -> int:
    """The reference baseline on the same split: first-order Markov with popularity back-off, fitted on the train
    steps and ranking the held-out steps ``floyo train`` scores."""
    from models.baselines import Markov1, MostPopular
    from models.protocol import next_item_steps, time_split
    from models.train import NEXT_ACTION_MAX_QUERIES

    split = time_split(events)
    steps, queries = next_item_steps(split)
    model = Markov1(steps, MostPopular.of_train(split))
    return len([model.rank(q) for q in queries.evenly_spaced(NEXT_ACTION_MAX_QUERIES)])


if __name__ == "__main__":
    main()
