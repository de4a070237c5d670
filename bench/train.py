"""`floyo train` on a large lake: time per step and peak memory, with a plain lake scan as the floor.

    .venv/bin/python bench/train.py --events 1000000            # a lake of 1 M synthetic events
    .venv/bin/python bench/train.py --events 10000000 --max-events 2000000

The lake is written directly as Parquet (no PostgreSQL): the synthetic personas of ``features.synth`` (50 x 60
days, seed 0) tiled with new user ids up to ``--events``, then ``build_features``; then, in the same run,
``training_data`` and ``train_all`` into a temporary MLflow store, exactly what ``floyo train`` runs. Each
family's time is taken from the progress callback. ``FLOYO_TRAIN_MAX_EVENTS`` (``--max-events``) caps the
events the next-action and co-change models read; rules and workflows read the feature tables of that window.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from datetime import date
from pathlib import Path

import polars as pl


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


def write_lake(lake: Path, n_events: int) -> int:
    """Tile the synthetic events (new user ids per copy) up to ``n_events`` and write them as lake files."""
    base = synth_frame()
    copies = -(-n_events // base.height)
    frame = (
        pl.concat([base.with_columns(pl.col("user_id") + k * 1000) for k in range(copies)])
        .head(n_events)
        .sort("ts")
        .with_row_index("seq", offset=1)
        .with_columns(pl.col("seq").cast(pl.Int64))
    )
    for (day,), part in frame.with_columns(d=pl.col("ts").dt.date()).partition_by("d", as_dict=True).items():
        folder = lake / "events" / ("date=" + str(day))
        folder.mkdir(parents=True, exist_ok=True)
        lo, hi = int(part["seq"].min()), int(part["seq"].max())  # type: ignore[arg-type]
        part.drop("d").write_parquet(folder / f"part-{lo}-{hi}-0.parquet")
    return frame.height


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--max-events", type=int, default=2_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.update({"FLOYO_DATA_DIR": tmp, "FLOYO_MLFLOW_URI": f"sqlite:///{tmp}/mlflow.db",
                           "FLOYO_TRAIN_MAX_EVENTS": str(args.max_events), "FLOYO_LOG_LEVEL": "WARNING"})  # fmt: skip
        from features import lake
        from features.build import build_features
        from floyo.settings import get_settings
        from models.lakedata import training_data
        from models.train import train_all

        settings = get_settings()
        n = write_lake(settings.lake_path, args.events)
        times: list[tuple[str, float]] = []
        t = time.perf_counter()
        assert lake.events(settings).select(pl.len()).collect().item() == n
        times.append(("baseline: scan the lake (polars count)", time.perf_counter() - t))
        t = time.perf_counter()
        build_features(settings.lake_path)
        times.append(("features build", time.perf_counter() - t))
        t = time.perf_counter()
        data = training_data(settings, max_events=settings.train_max_events)
        times.append((f"training data ({data.events.height:,} events)", time.perf_counter() - t))
        last = [time.perf_counter()]

        def step(name: str) -> None:
            now = time.perf_counter()
            times.append((f"  {name} (tune/mine, score, log, champion check)", now - last[0]))
            last[0] = now

        results = train_all(data, progress=step)
        total = sum(s for name, s in times if not name.startswith("baseline") and name != "features build")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"lake of {n:,} events, FLOYO_TRAIN_MAX_EVENTS={args.max_events:,}, {os.cpu_count()} cores")
    print("| step | seconds |\n|---|---:|")
    for name, s in times:
        print(f"| {name} | {s:.1f} |")
    print(f"| **floyo train total (data + four families)** | **{total:.1f}** |")
    print(f"peak RSS {peak_mb:,.0f} MB; versions: " + ", ".join(f"{r['name']} v{r['version']}" for r in results))


if __name__ == "__main__":
    main()
