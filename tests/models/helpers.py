"""Plain helpers for the models' tests: tiny event logs written out by hand."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import polars as pl

REPO = Path(__file__).resolve().parents[2]
SHARED_LOG = REPO.parent / "shared" / "data" / "flask.events.csv.gz"
SAMPLE_LOG = REPO / "data" / "samples" / "flask.events.csv.gz"


def flask_log() -> Path:
    """The real flask log: from ../shared when present, else the identical copy in data/samples."""
    return SHARED_LOG if SHARED_LOG.exists() else SAMPLE_LOG


def events(rows: list[tuple[str, str, str, str]]) -> pl.DataFrame:
    """A frame of ``(user, ts, path, commit)`` rows, ext taken from the path, in the models' plain format."""
    return pl.DataFrame(
        {
            "user_id": [r[0] for r in rows],
            "ts": [r[1] for r in rows],
            "path": [r[2] for r in rows],
            "ext": [r[2].rsplit(".", 1)[1] if "." in r[2] else "" for r in rows],
            "group": [r[3] for r in rows],
        }
    ).with_columns(pl.col("ts").str.to_datetime(time_zone="UTC"))


def write_log(path: Path, rows: list[tuple[str, str, str, str]]) -> Path:
    """Write rows as a gzipped CSV log in the format of docs/data.md."""
    lines = ["event_id,user_id,ts,path,ext,action,commit,is_bot"]
    for i, (user, ts, p, commit) in enumerate(rows):
        ext = p.rsplit(".", 1)[1] if "." in p else ""
        lines.append(f"{i:016x},{user},{ts},{p},{ext},modified,{commit},0")
    with gzip.open(path, "wt") as fh:
        fh.write("\n".join(lines) + "\n")
    return path


def synth_events(data: Any) -> pl.DataFrame:
    """A ``features.synth`` dataset as the events frame the models take (``ext`` normalised as the server does)."""
    from floyo.events import extension_of

    rows = [
        {"user_id": u.name, "ts": e["ts"], "kind": e["kind"], "path": e["path"], "tool": e.get("tool")}
        for u in data.users
        for e in u.events
    ]
    return pl.DataFrame(rows).with_columns(
        pl.col("ts").str.to_datetime(time_zone="UTC"),
        pl.col("path").map_elements(lambda p: extension_of(p) or "", return_dtype=pl.String).alias("ext"),
    )
