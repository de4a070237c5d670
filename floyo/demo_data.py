"""``floyo demo-data``: store synthetic personas through the ingest path, or write them as a CSV log, with the truth.

Part of the demo, hence of the composition root: generating personas is ``features.synth``'s, storing them drives
``ingest``, which ``features`` never does.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Engine

from features.synth import SynthData

BATCH = 5000
KIND_TO_ACTION = {"create": "created", "modify": "modified", "delete": "deleted", "move": "renamed"}
# the git-derived log format (see ingest/csvlog.py), then the fields it cannot express (readers ignore unknown columns)
CSV_HEADER = (
    "event_id",
    "user_id",
    "ts",
    "path",
    "ext",
    "action",
    "commit",
    "is_bot",
    "kind",
    "tool",
    "dest_path",
    "root",
)


@dataclass
class DemoDataSummary:
    """What ``demo-data`` produced and where."""

    users: int
    events: int
    accepted: int
    duplicates: int
    rejected: int
    data: str
    truth: Path

    def describe(self) -> str:
        return (
            f"{self.events} events of {self.users} synthetic users -> {self.data} "
            f"({self.accepted} accepted, {self.duplicates} duplicate, {self.rejected} rejected)\n"
            f"ground truth: {self.truth}"
        )


def truth_path_for(out: Path) -> Path:
    """``x.csv.gz`` -> ``x.truth.json`` beside it."""
    return out.with_name(out.name.split(".")[0] + ".truth.json")


def write_truth(data: SynthData, path: Path) -> Path:
    """Write the ground truth as JSON."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(data.truth, option=orjson.OPT_INDENT_2))
    return path


def truth_file(settings: Any, *, seed: int, personas: int, days: int) -> Path:
    """Where the ground truth of stored personas goes: ``$FLOYO_DATA_DIR/synth/``."""
    return Path(settings.data_dir) / "synth" / f"truth-seed{seed}-{personas}p-{days}d.json"


def author_id(name: str) -> str:
    """The log's ``user_id``: 12 hex of sha256, as in the shared log."""
    return hashlib.sha256(name.encode()).hexdigest()[:12]


def write_csv(data: SynthData, out: Path) -> DemoDataSummary:
    """Write every event, time-ordered, as a (gzipped when ``.gz``) CSV log; the truth goes beside it."""
    out.parent.mkdir(parents=True, exist_ok=True)
    rows = sorted((e["ts"], u.name, e) for u in data.users for e in u.events)
    opener: Callable[..., Any] = gzip.open if out.suffix == ".gz" else open
    with opener(out, "wt", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(CSV_HEADER)
        for ts, name, e in rows:
            path = e["path"]
            ext = path.rpartition(".")[2].lower() if "." in path.rpartition("/")[2] else ""
            writer.writerow([
                e["event_id"], author_id(name), ts, path, ext, KIND_TO_ACTION.get(e["kind"], e["kind"]), "", 0,
                e["kind"], e.get("tool", ""), e.get("dest_path", ""), e["root"],
            ])  # fmt: skip
    truth = write_truth(data, truth_path_for(out))
    return DemoDataSummary(len(data.users), data.n_events, 0, 0, 0, str(out), truth)


def _device_ids(engine: Engine, user: str) -> tuple[int, int]:
    from floyo.auth import ensure_device

    with engine.begin() as conn:
        return ensure_device(conn, user=user, device="synth")


def store(
    data: SynthData, engine: Engine, settings: Any, truth: Path, *, advance: Callable[[int], None] | None = None
) -> DemoDataSummary:
    """Store every event through ``ingest_events`` (the API's path); the truth goes to ``truth``."""
    from ingest.service import ingest_events

    summary = DemoDataSummary(len(data.users), data.n_events, 0, 0, 0, "PostgreSQL", truth)
    for user in data.users:
        user_id, device_id = _device_ids(engine, user.name)
        for i in range(0, len(user.events), BATCH):
            chunk = user.events[i : i + BATCH]
            result = ingest_events(engine, settings, chunk, user_id=user_id, device_id=device_id)
            summary.accepted += result.accepted
            summary.duplicates += len(result.duplicates)
            summary.rejected += len(result.rejected)
            if advance:
                advance(len(chunk))
    write_truth(data, truth)
    return summary


@dataclass
class LakeReady:
    """What ``ensure_lake`` found or built: the lake, its events, whether it built it, the personas' truth."""

    lake: Path
    events: int
    built: bool
    truth: Path | None

    def describe(self) -> str:
        how = "built from synthetic personas" if self.built else "found"
        return f"lake {self.lake}: {self.events} events ({how})" + (
            f"; ground truth {self.truth}" if self.truth else ""
        )


def latest_truth(settings: Any) -> Path | None:
    """The newest ground-truth file of personas stored with these settings (``$FLOYO_DATA_DIR/synth/``), if any."""
    found = sorted((Path(settings.data_dir) / "synth").glob("truth-*.json"), key=lambda p: p.stat().st_mtime)
    return found[-1] if found else None


def ensure_lake(settings: Any, *, personas: int = 5, days: int = 14, seed: int = 0) -> LakeReady:
    """The lake the settings point to; when it holds no events, a small one built first: synthetic personas stored
    through the ingest path, exported and featurised as the job does (what a notebook on a fresh clone needs)."""
    from features import lake
    from features.synth import generate
    from floyo.db import get_engine
    from jobs.refresh import export_and_build

    path = settings.lake_path
    built = False
    if not lake.has_events(path):
        data = generate(personas=personas, days=days, seed=seed)
        store(data, get_engine(), settings, truth_file(settings, seed=seed, personas=personas, days=days))
        export_and_build(settings, retention=False)
        built = True
    elif not (path / "transactions" / "transactions.parquet").exists():
        from features.build import build_features

        build_features(path)
    import polars as pl

    count = int(lake.events(settings).select(pl.len()).collect().item())
    return LakeReady(path, count, built, latest_truth(settings))
