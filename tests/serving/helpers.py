"""Hand-made event frames in the lake's columns: a person's background noise plus the habits a test plants."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import polars as pl

from floyo.events import extension_of

START = datetime(2026, 10, 1, tzinfo=UTC)
NOISE_FOLDERS = ("notes", "src", "misc", "inbox")
NOISE_EXTS = ("md", "txt", "py", "json")
NOISE_TOOLS = ("ls", "vim", "grep", "python")


def event(user: int, ts: datetime, kind: str, path: str = "", *, root: str = "home", tool: str | None = None,
          dest: str | None = None, duration_s: float | None = None, meta: dict[str, Any] | None = None) -> dict[str, Any]:  # fmt: skip
    """One event as the lake holds it."""
    return {
        "user_id": user, "ts": ts, "kind": kind, "root": root, "path": path, "ext": extension_of(path) or "",
        "dest_path": dest, "tool": tool, "exit_code": 0 if tool else None,
        "duration_ms": None if duration_s is None else int(duration_s * 1000),
        "meta": None if meta is None else orjson.dumps(meta).decode(),
    }  # fmt: skip


def noise(user: int, rng: random.Random, days: int, per_day: int = 25, *, root: str = "home") -> list[dict[str, Any]]:
    """Background activity: opens, saves and short runs in unrelated folders, 9:00-18:00."""
    out = []
    for d in range(days):
        for _ in range(per_day):
            ts = START + timedelta(days=d, hours=rng.uniform(9, 18))
            if rng.random() < 0.15:
                out.append(
                    event(user, ts, "run", "", root=root, tool=rng.choice(NOISE_TOOLS), duration_s=rng.uniform(0.1, 3))
                )
            else:
                path = f"{rng.choice(NOISE_FOLDERS)}/f{rng.randint(1, 30)}.{rng.choice(NOISE_EXTS)}"
                out.append(event(user, ts, rng.choice(("open", "modify", "modify", "create")), path, root=root))
    return out


def daily(
    days: int, per_day: tuple[int, int], rng: random.Random, hours: tuple[float, float] = (9, 18)
) -> list[datetime]:
    """Start times of a habit: ``per_day`` times on each of ``days`` days."""
    return [
        START + timedelta(days=d, hours=rng.uniform(*hours)) for d in range(days) for _ in range(rng.randint(*per_day))
    ]


def frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    """Events in the lake's column types."""
    schema: dict[str, Any] = {
        "user_id": pl.Int64, "ts": pl.Datetime("us", "UTC"), "kind": pl.String, "root": pl.String, "path": pl.String,
        "ext": pl.String, "dest_path": pl.String, "tool": pl.String, "exit_code": pl.Int32, "duration_ms": pl.Int64,
        "meta": pl.String,
    }  # fmt: skip
    return pl.DataFrame(rows, schema=schema).sort("user_id", "ts")


def person(user: int, seed: int, *, latexmk: bool = True, pandoc: bool = True) -> list[dict[str, Any]]:
    """Noise and two habits over two weeks: save thesis/*.tex then latexmk, save blog/*.md then pandoc."""
    rng = random.Random(seed)
    rows = noise(user, rng, 14)
    for t in daily(14, (2, 3), rng):
        if latexmk:
            rows.append(event(user, t, "modify", f"thesis/c{rng.randint(1, 5)}.tex"))
            rows.append(
                event(user, t + timedelta(seconds=rng.uniform(5, 30)), "run", "thesis", tool="latexmk", duration_s=9)
            )
        if pandoc:
            t2 = t + timedelta(minutes=20)
            rows.append(event(user, t2, "modify", f"blog/p{rng.randint(1, 5)}.md"))
            rows.append(
                event(user, t2 + timedelta(seconds=rng.uniform(5, 30)), "run", "blog", tool="pandoc", duration_s=2)
            )
    return rows
