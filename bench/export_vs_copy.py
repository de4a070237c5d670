"""`floyo export` against a raw ``COPY (SELECT ...) TO STDOUT`` of the same rows, in rounds, with the CPU of both
sides (used by ``bench/lake.py``).

Wall time on a shared 2-core machine moves 2-3x with the load; what does not move is the CPU each side spends. The
export overlaps PostgreSQL's work with its own (two ranges read ahead), so on idle cores its wall time is about its
longest side's, while under load it tends to the sum of both sides' CPU. Hence each contender's client and server
CPU seconds beside its wall time, and the ratio taken within each round.
"""

from __future__ import annotations

import os
import resource
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import psycopg

REPO = Path(__file__).resolve().parent.parent
_TICK = os.sysconf("SC_CLK_TCK")


def _proc_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK  # utime + stime


class ServerCPU:
    """CPU seconds spent by the client backends of the bench database while the block runs (sampled every 20 ms
    from /proc: PostgreSQL must run on this machine; the last < 20 ms of each backend may be missed)."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._seen: dict[int, float] = {}
        self._start: dict[int, float] = {}
        self._stop = threading.Event()
        self.seconds = float("nan")

    def _sample(self, conn: psycopg.Connection[Any]) -> None:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
        ).fetchall()
        for (pid,) in rows:
            with suppress(OSError, IndexError, ValueError):  # gone, or not on this machine
                self._seen[pid] = _proc_cpu(pid)

    def _loop(self) -> None:
        with psycopg.connect(self._url, autocommit=True) as conn:
            self._sample(conn)
            self._start = dict(self._seen)
            self._ready.set()
            while not self._stop.wait(0.02):
                self._sample(conn)

    def __enter__(self) -> ServerCPU:
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self._stop.set()
        self._thread.join()
        if self._seen:
            self.seconds = sum(cpu - self._start.get(pid, 0.0) for pid, cpu in self._seen.items())


@dataclass
class Measure:
    """One contender in one round."""

    seconds: float
    client_cpu: float
    server_cpu: float
    extra: dict[str, Any] = field(default_factory=dict)


def _cpu(who: int) -> float:
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime


def measure(url: str, run: Callable[[], dict[str, Any] | None], *, child: bool = False) -> Measure:
    """Wall time, client CPU (this process, or its waited-for children when ``child``) and server CPU of ``run``."""
    who = resource.RUSAGE_CHILDREN if child else resource.RUSAGE_SELF
    with ServerCPU(url) as server:
        c0, t0 = _cpu(who), time.perf_counter()
        extra = run() or {}
        seconds, client = time.perf_counter() - t0, _cpu(who) - c0
    return Measure(seconds, client, server.seconds, extra)


def copy_out(url: str, select: str, out: Path) -> None:
    """The baseline: raw ``COPY (SELECT ...) TO STDOUT`` of the rows into a file, through psycopg."""
    with (
        psycopg.connect(url) as conn,
        open(out, "wb") as fh,
        conn.cursor().copy(f"COPY ({select}) TO STDOUT (FORMAT csv)") as copy,
    ):
        for block in copy:
            fh.write(block)


def psql_copy_out(url: str, select: str, out: Path) -> None:
    """The same COPY through ``psql``'s ``\\copy`` (a C client: next to no client CPU)."""
    command = f"\\copy ({select}) TO '{out}' (FORMAT csv)"
    subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", url, "-c", command], check=True)


def export_in_process(url: str, data_dir: Path) -> dict[str, Any]:
    """``floyo export --full --no-retention``'s code path in this process; its result's phases and counts."""
    from sqlalchemy import create_engine

    from floyo.settings import Settings
    from ingest.lake_export import export_lake

    shutil.rmtree(data_dir, ignore_errors=True)
    engine = create_engine(_sqlalchemy_url(url))
    settings = Settings(database_url=_sqlalchemy_url(url), data_dir=data_dir, retention_days=0)
    result = export_lake(engine, settings, full=True, retention=False)
    engine.dispose()
    return {"phases": result.phases, "files": result.files_written, "compacted": result.compacted_partitions}


def export_command(url: str, data_dir: Path, repo: Path = REPO) -> None:
    """``floyo export --full --no-retention`` as a new process, as an operator or the job's worker runs it (the
    code of ``repo``: another checkout measures an older export in the same run)."""
    shutil.rmtree(data_dir, ignore_errors=True)
    env = {**os.environ, "FLOYO_DATABASE_URL": _sqlalchemy_url(url), "FLOYO_DATA_DIR": str(data_dir),
           "FLOYO_RETENTION_DAYS": "0", "PYTHONPATH": str(repo)}  # fmt: skip
    env.pop("FLOYO_LAKE_DIR", None)
    subprocess.run(
        [sys.executable, "-m", "floyo", "export", "--full", "--no-retention"],
        env=env, check=True, cwd=repo, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def _sqlalchemy_url(url: str) -> str:
    return "postgresql+psycopg://" + url.split("://", 1)[1]


BASELINE = "baseline: COPY (SELECT ...) TO STDOUT -> file (psycopg)"
PSQL = "psql \\copy (SELECT ...) TO file (C client)"
EXPORT = "floyo export, in process (ADBC -> Arrow -> Parquet, compacted)"
COMMAND = "`floyo export` command (new process: start and imports too)"


def compare(url: str, select: str, tmp: Path, rounds: int, other: Path | None = None) -> dict[str, list[Measure]]:
    """``rounds`` rounds of every contender, in turn, after one untimed COPY that warms the caches; ``other``: a
    checkout whose ``floyo export`` command runs too."""
    out = tmp / "copy.csv"
    copy_out(url, select, out)
    contenders: dict[str, tuple[Callable[[], dict[str, Any] | None], bool]] = {
        BASELINE: (lambda: copy_out(url, select, out), False),
        EXPORT: (lambda: export_in_process(url, tmp / "data"), False),
        COMMAND: (lambda: export_command(url, tmp / "data-cli"), True),
    }
    if shutil.which("psql"):
        contenders[PSQL] = (lambda: psql_copy_out(url, select, out), True)
    if other is not None:
        contenders[f"`floyo export` command of {other}"] = (
            lambda: export_command(url, tmp / "data-other", other),
            True,
        )
    runs: dict[str, list[Measure]] = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, (run, child) in contenders.items():
            runs[name].append(measure(url, run, child=child))
    out.unlink()
    return runs


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def report(runs: dict[str, list[Measure]], events: int) -> list[str]:
    """Markdown lines: each contender's medians and its per-round ratio to the baseline, then the export's phases."""
    base = [m.seconds for m in runs[BASELINE]]
    lines = [
        "| step | events | seconds (median) | events/s | client CPU s | PostgreSQL CPU s | vs COPY: median (range) |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for name, ms in runs.items():
        ratios = [m.seconds / b for m, b in zip(ms, base, strict=True)]
        secs = _median([m.seconds for m in ms])
        ratio = f"{_median(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f})"
        lines.append(
            f"| {name} | {events:,} | {secs:.2f} | {events / secs:,.0f} | {_median([m.client_cpu for m in ms]):.2f} "
            f"| {_median([m.server_cpu for m in ms]):.2f} | {ratio} |"
        )
    exports = runs[EXPORT]
    phases = {k: _median([m.extra["phases"].get(k, 0.0) for m in exports]) for k in exports[0].extra["phases"]}
    lines.append(
        "\nexport phases (median wall s of the exporting thread; `read` is waiting for PostgreSQL beyond the "
        f"read-ahead): {', '.join(f'{k} {v:.2f}' for k, v in phases.items())}; {exports[0].extra['files']} files "
        f"written, {exports[0].extra['compacted']} dates compacted"
    )
    return lines


def headline(runs: dict[str, list[Measure]]) -> str:
    """One line: the export's and the command's median ratio to the same round's COPY."""
    base = [m.seconds for m in runs[BASELINE]]
    parts = []
    for name, label in ((EXPORT, "export"), (COMMAND, "`floyo export` command")):
        ratios = [m.seconds / b for m, b in zip(runs[name], base, strict=True)]
        parts.append(f"{label} / COPY = {_median(ratios):.2f}x")
    if PSQL in runs:
        psql = [m.seconds for m in runs[PSQL]]
        ratios = [m.seconds / p for m, p in zip(runs[EXPORT], psql, strict=True)]
        parts.append(f"export / psql \\copy = {_median(ratios):.2f}x")
    return "**" + "; ".join(parts) + "** (medians of per-round ratios; goal <= 1.5x)"
