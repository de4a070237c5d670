"""How fast does telemetry go through the API, compared with raw COPY into the same table?

Starts a real ``floyo serve`` (uvicorn, N workers) against a dedicated benchmark database, sends
``--events`` realistic events in batches of ``--batch`` from ``--clients`` concurrent HTTP clients
(one process each, bodies encoded before the clock starts, keep-alive connections), then, in the same
run and against the same table, measures psycopg COPY of equivalent rows and the naive idempotent
INSERT ... ON CONFLICT through unnest arrays. Prints a markdown table.

    .venv/bin/pip install -e '.[bench]'   # psutil, for the CPU figures
    .venv/bin/python bench/ingest.py [--database-url postgresql://postgres@127.0.0.1:5432/floyo_bench]

Without ``--database-url`` (and without ``FLOYO_BENCH_DATABASE_URL``) it uses Floyo's embedded
PostgreSQL (database ``floyo_bench`` in ``$FLOYO_DATA_DIR/pg``). The benchmark database is dropped
and recreated on every run, so its name must contain ``bench``.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import math
import multiprocessing as mp
import os
import platform
import random
import shlex
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import psutil
import psycopg
from psycopg import sql
from sqlalchemy import create_engine, make_url, pool

from floyo.auth import create_device_token
from floyo.db import migrate, psycopg_conninfo
from floyo.event_schema import BY_NAME, COPY_COLUMNS
from floyo.event_schema import COPY_TYPES as SERVER_COPY_TYPES

# --- realistic events ------------------------------------------------------------------------------

EXTENSIONS = {  # share of file events by extension, roughly a developer / analyst workstation
    "py": 22, "md": 9, "csv": 7, "json": 7, "ts": 6, "js": 5, "txt": 5, "yaml": 4, "html": 3, "ipynb": 3,
    "toml": 2, "sh": 2, "sql": 2, "png": 3, "jpg": 2, "pdf": 3, "docx": 2, "xlsx": 2, "parquet": 2, "": 3,
    "rs": 2, "go": 2, "css": 2, "log": 2,
}  # fmt: skip
KINDS = {"modify": 68, "open": 8, "create": 7, "run": 10, "delete": 4, "move": 3}
TOOLS = {"pytest": 35, "python": 25, "make": 10, "npm": 8, "pandoc": 5, "cargo": 5, "git": 7, "ffmpeg": 2, "ruff": 3}
ROOTS = {"projects": 70, "documents": 15, "downloads": 10, "desktop": 5}
WORDS = (
    "src", "data", "tests", "docs", "notebooks", "reports", "app", "api", "core", "utils", "models", "scripts",
    "assets", "design", "config", "lib", "web", "sales", "clients", "invoices", "2025", "2026", "drafts", "figures",
    "raw", "clean", "export", "analysis", "frontend", "backend", "infra",
)  # fmt: skip
NAMES = (
    "main", "app", "utils", "test_api", "report", "sales_q3", "clean", "notes", "README", "index", "config",
    "settings", "schema", "train", "model", "invoice", "summary", "figure1", "data", "readme", "todo", "changelog",
    "setup", "handler", "views", "routes", "client", "server",
)  # fmt: skip


def _choices(weights: dict[str, int]) -> tuple[list[str], list[int]]:
    return list(weights), list(weights.values())


class EventFactory:
    """Deterministic (seeded) generator of plausible agent events, with fresh random ids."""

    def __init__(self, seed: int, batches: int, days: int = 45) -> None:
        self.rng = random.Random(seed)
        self.batches = max(1, batches)
        self.dirs = ["/".join(self.rng.choices(WORDS, k=self.rng.randint(1, 4))) for _ in range(300)]
        self.ext = _choices(EXTENSIONS)
        self.kind = _choices(KINDS)
        self.tool = _choices(TOOLS)
        self.root = _choices(ROOTS)
        self.start = datetime.now(UTC) - timedelta(days=days)
        self.span_s = days * 86400 - 60
        self.sent = 0

    def _path(self) -> tuple[str, str]:
        ext = self.rng.choices(*self.ext)[0]
        name = self.rng.choice(NAMES) if ext else self.rng.choice(("Makefile", "Dockerfile", "LICENSE"))
        return f"{self.rng.choice(self.dirs)}/{name}{'.' + ext if ext else ''}", ext

    def event(self, ts: datetime) -> dict[str, Any]:
        """One event as the agent sends it (JSON-ready)."""
        rng = self.rng
        kind = rng.choices(*self.kind)[0]
        event: dict[str, Any] = {
            "event_id": str(uuid.uuid4()),
            "ts": ts.isoformat(),
            "kind": kind,
            "root": rng.choices(*self.root)[0],
        }
        if kind == "run":
            tool = rng.choices(*self.tool)[0]
            event.update(
                tool=tool,
                exit_code=0 if rng.random() < 0.85 else rng.choice((1, 2, 127)),
                duration_ms=int(rng.lognormvariate(7, 1.5)),
            )
            if tool in ("python", "pytest", "pandoc"):
                event["path"], event["ext"] = self._path()
            event["meta"] = {"argc": rng.randint(0, 6)}
        else:
            event["path"], event["ext"] = self._path()
            if kind == "move":
                event["dest_path"] = self._path()[0]
            if rng.random() < 0.3:
                event["meta"] = {"size": rng.randint(0, 5_000_000), "editor": rng.choice(("vscode", "vim", "pycharm"))}
        return event

    def batch(self, n: int) -> list[dict[str, Any]]:
        """The device's next ``n`` events: an agent sends its spool in time order, the last batch ends now."""
        step = self.span_s / self.batches
        first = self.start + timedelta(seconds=step * (self.sent % self.batches))
        self.sent += 1
        offsets = sorted(self.rng.uniform(0, step) for _ in range(n))
        return [self.event(first + timedelta(seconds=s)) for s in offsets]


def encode_bodies(seed: int, batches: int, size: int) -> list[bytes]:
    """Request bodies, encoded before any clock starts."""
    factory = EventFactory(seed, batches)
    sent_at = datetime.now(UTC).isoformat()
    return [orjson.dumps({"sent_at": sent_at, "events": factory.batch(size)}) for _ in range(batches)]


# --- the database ----------------------------------------------------------------------------------


def prepare_database(url: str | None) -> str:
    """A freshly created, migrated benchmark database; returns its SQLAlchemy URL."""
    if url is None:
        from floyo.db.embedded import ensure_embedded_database
        from floyo.settings import get_settings

        url = ensure_embedded_database(get_settings().embedded_pg_dir, "floyo_bench")
    url = url.replace("postgresql://", "postgresql+psycopg://", 1) if url.startswith("postgresql://") else url
    name = make_url(url).database or ""
    if "bench" not in name:
        raise SystemExit(f"refusing to drop database {name!r}: the benchmark database's name must contain 'bench'")
    admin = {**psycopg_conninfo(url), "dbname": "postgres"}
    with psycopg.connect(**admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    migrate.upgrade(url)
    return url


def create_tokens(url: str, n: int) -> list[str]:
    """One device token per client (separate users, as separate people's agents)."""
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.begin() as conn:
            return [create_device_token(conn, user=f"bench-{i}", device="laptop") for i in range(n)]
    finally:
        engine.dispose()


def count_events(url: str) -> int:
    with psycopg.connect(**psycopg_conninfo(url)) as conn:
        row = conn.execute("SELECT count(*) FROM events").fetchone()
        assert row is not None
        return int(row[0])


# --- the server ------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(proc: subprocess.Popen[bytes], port: int, *, timeout_s: float) -> None:
    """Poll ``/health/readiness`` on ``port`` until it answers 200; SystemExit when the server exits or is late."""
    deadline = time.monotonic() + timeout_s
    while True:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited with {proc.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/health/readiness")
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"the server did not become ready in {timeout_s:.0f} s")
        time.sleep(0.1)  # polling a separate process until it answers


def server_env(url: str, data_dir: str, extra: dict[str, str]) -> dict[str, str]:
    """A benchmarked server's environment: the database, its own data dir, quiet logs, rate limits out of the way
    (``extra`` on top)."""
    return {
        **os.environ,
        "FLOYO_DATABASE_URL": url,
        "FLOYO_RATE_LIMIT_PER_SECOND": "1000000",
        "FLOYO_RATE_LIMIT_BURST": "1000000",
        "FLOYO_LOG_LEVEL": "WARNING",
        "FLOYO_DATA_DIR": data_dir,
        **extra,
    }


@contextmanager
def serve(
    url: str, workers: int, port: int, env_extra: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """``python -m floyo serve`` against ``url`` with rate limits out of the way (``env_extra`` on top); stopped
    with SIGTERM."""
    data_dir = tempfile.mkdtemp(prefix="floyo-bench-")
    env = server_env(url, data_dir, env_extra or {})
    cmd = [sys.executable, "-m", "floyo", "serve", "--port", str(port), "--workers", str(workers)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL)
    try:
        wait_ready(proc, port, timeout_s=60)
        print(f"server ready on port {port}, pid {proc.pid}", flush=True)
        yield proc
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        shutil.rmtree(data_dir, ignore_errors=True)


# --- the HTTP clients ------------------------------------------------------------------------------


@dataclass
class ClientResult:
    accepted: int
    other: int  # duplicates + rejections: must be 0 with fresh ids
    latencies: list[float]
    start: float
    end: float
    cpu: float  # CPU seconds of this client while sending


def _post(conn: http.client.HTTPConnection, body: bytes, headers: dict[str, str]) -> dict[str, Any]:
    conn.request("POST", "/api/v1/telemetry", body, headers)
    response = conn.getresponse()
    data = response.read()
    if response.status != 200:
        raise RuntimeError(f"HTTP {response.status}: {data[:300]!r}")
    result: dict[str, Any] = orjson.loads(data)
    return result


def client_main(
    port: int, token: str, seed: int, batches: int, size: int, ready: Any, go: Any, out: Any
) -> None:  # runs in a child process
    bodies = encode_bodies(seed, batches, size)
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    warm = orjson.dumps({"events": EventFactory(seed + 7, 1).batch(10)})
    accepted = _post(conn, warm, headers)["accepted"]  # connection, engine pool and caches warm
    ready.release()
    go.wait()
    latencies, other = [], 0
    start, cpu = time.perf_counter(), time.process_time()
    for body in bodies:
        t0 = time.perf_counter()
        result = _post(conn, body, headers)
        latencies.append(time.perf_counter() - t0)
        accepted += result["accepted"]
        other += result["duplicate"] + result["rejected"]
    end, cpu = time.perf_counter(), time.process_time() - cpu
    conn.close()
    out.put(ClientResult(accepted, other, latencies, start, end, cpu))


@dataclass
class ApiResult:
    events: int
    accepted: int
    other: int
    seconds: float
    latencies: list[float]
    cpu: dict[str, float]  # CPU seconds by component while the clock ran

    @property
    def rate(self) -> float:
        return self.events / self.seconds


def run_api(url: str, *, events: int, clients: int, batch: int, workers: int) -> ApiResult:
    """Send ``events`` through the API from ``clients`` processes; the clock runs from go to the last answer."""
    tokens = create_tokens(url, clients)
    total_batches = -(-events // batch)
    shares = [total_batches // clients + (i < total_batches % clients) for i in range(clients)]
    port = free_port()
    ctx = mp.get_context("fork")
    ready, go, out = ctx.Semaphore(0), ctx.Event(), ctx.Queue()
    with serve(url, workers, port) as server:
        procs = [
            ctx.Process(target=client_main, args=(port, tokens[i], 1000 + i, shares[i], batch, ready, go, out))
            for i in range(clients)
        ]
        for p in procs:
            p.start()
        for _ in procs:
            ready.acquire()
        database = make_url(url).database or ""
        before = cpu_seconds(server.pid, database)
        go.set()
        results: list[ClientResult] = [out.get() for _ in procs]
        cpu = {k: v - before[k] for k, v in cpu_seconds(server.pid, database).items()}
        for p in procs:
            p.join()
    if any(p.exitcode != 0 for p in procs):
        raise SystemExit("a client failed")
    seconds = max(r.end for r in results) - min(r.start for r in results)
    return ApiResult(
        events=sum(shares) * batch,
        accepted=sum(r.accepted for r in results),
        other=sum(r.other for r in results),
        seconds=seconds,
        latencies=[lat for r in results for lat in r.latencies],
        cpu={**cpu, "HTTP clients": sum(r.cpu for r in results)},
    )


def _is_ours(cmdline: list[str], database: str) -> bool:
    """A PostgreSQL process working for the benchmark: its backends, or a background process (WAL writer...)."""
    title = " ".join(cmdline)
    return f" {database} " in title or not ("(" in title or "[local]" in title)


def cpu_seconds(server_pid: int | None, database: str) -> dict[str, float]:
    """CPU seconds used so far by the API server (all workers), PostgreSQL for us, and the whole machine."""
    server = [] if server_pid is None else [psutil.Process(server_pid)]
    groups = {"API server": 0.0, "PostgreSQL": 0.0}
    for proc in [*server, *(p for s in server for p in s.children(recursive=True))]:
        with contextlib.suppress(psutil.NoSuchProcess):
            t = proc.cpu_times()
            groups["API server"] += t.user + t.system
    for proc in psutil.process_iter(["name", "cmdline", "cpu_times"]):
        info = proc.info
        if info["name"] == "postgres" and info["cpu_times"] and _is_ours(info["cmdline"] or [], database):
            groups["PostgreSQL"] += info["cpu_times"].user + info["cpu_times"].system
    machine = psutil.cpu_times()
    groups["machine"] = machine.user + machine.system + machine.nice + machine.irq + machine.softirq
    return groups


# --- the baselines: straight into the table --------------------------------------------------------

# Binary COPY sends each value in its column type's binary format (the registry's COPY types, as the server
# sends them), but the uuid goes as a uuid object here: the plain baseline.
COPY_TYPES = tuple(
    "uuid" if BY_NAME[c].pg_type == "uuid" else t for c, t in zip(COPY_COLUMNS, SERVER_COPY_TYPES, strict=True)
)
_ID_AT, _META_AT = COPY_COLUMNS.index("event_id"), COPY_COLUMNS.index("meta")
_USER_AT = COPY_COLUMNS.index("user_id")


def equivalent_rows(seed: int, n: int, batch: int, user_id: int, device_id: int) -> list[list[tuple[Any, ...]]]:
    """Rows as the server would store them for fresh events, in batches (built before the clock starts)."""
    factory = EventFactory(seed, -(-n // batch))
    received_at = datetime.now(UTC)
    out = []
    for _ in range(-(-n // batch)):
        rows = []
        for e in factory.batch(batch):
            ts = datetime.fromisoformat(e["ts"])
            meta = orjson.dumps(e["meta"]).decode() if "meta" in e else None
            values = {
                **{c: e.get(c) for c in COPY_COLUMNS}, "event_id": uuid.UUID(e["event_id"]), "user_id": user_id,
                "device_id": device_id, "ts": ts, "client_ts": ts, "skew_ms": 0, "received_at": received_at,
                "path": e.get("path", ""), "ext": e.get("ext", ""), "meta": meta,
            }  # fmt: skip
            rows.append(tuple(values[c] for c in COPY_COLUMNS))
        out.append(rows)
    return out


@dataclass
class Baseline:
    rows: int
    seconds: float
    cpu: float  # this process and PostgreSQL for us
    other: float  # CPU seconds of everything else on the machine meanwhile

    @property
    def rate(self) -> float:
        return self.rows / self.seconds


def _timed(
    url: str, batches: list[list[tuple[Any, ...]]], store: Callable[[psycopg.Connection[Any], list[Any]], None]
) -> Baseline:
    database = make_url(url).database or ""
    with psycopg.connect(**psycopg_conninfo(url)) as conn:
        before, cpu = cpu_seconds(None, database), time.process_time()
        start = time.perf_counter()
        for rows in batches:
            store(conn, rows)
            conn.commit()
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        after = cpu_seconds(None, database)
    ours = cpu + after["PostgreSQL"] - before["PostgreSQL"]
    return Baseline(sum(len(b) for b in batches), seconds, ours, after["machine"] - before["machine"] - ours)


_COLUMNS = ", ".join(COPY_COLUMNS)


def as_binary(batches: list[list[tuple[Any, ...]]]) -> list[list[tuple[Any, ...]]]:
    """The same rows with ``meta`` in jsonb's binary wire format."""

    def binary(r: tuple[Any, ...]) -> tuple[Any, ...]:
        meta = r[_META_AT]
        return (*r[:_META_AT], None if meta is None else b"\x01" + meta.encode(), *r[_META_AT + 1 :])

    return [[binary(r) for r in rows] for rows in batches]


def copy_binary(conn: psycopg.Connection[Any], rows: list[tuple[Any, ...]]) -> None:
    with conn.cursor().copy(f"COPY events ({_COLUMNS}) FROM STDIN (FORMAT BINARY)") as copy:
        copy.set_types(COPY_TYPES)
        for row in rows:
            copy.write_row(row)


def copy_text(conn: psycopg.Connection[Any], rows: list[tuple[Any, ...]]) -> None:
    with conn.cursor().copy(f"COPY events ({_COLUMNS}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


_UNNEST_SQL = f"""
WITH claimed AS (
    INSERT INTO event_keys (user_id, event_id) SELECT unnest(%s::bigint[]), unnest(%s::uuid[])
    ON CONFLICT DO NOTHING RETURNING user_id, event_id
)
INSERT INTO events ({_COLUMNS})
SELECT r.* FROM unnest({", ".join(f"%s::{BY_NAME[c].pg_type}[]" for c in COPY_COLUMNS)}) AS r({_COLUMNS}) JOIN claimed USING (user_id, event_id)
ON CONFLICT DO NOTHING
"""


def insert_unnest(conn: psycopg.Connection[Any], rows: list[tuple[Any, ...]]) -> None:
    columns = [list(col) for col in zip(*rows, strict=True)]
    conn.execute(_UNNEST_SQL, [columns[_USER_AT], columns[_ID_AT], *columns])


def ensure_partitions(url: str, batches: list[list[tuple[Any, ...]]]) -> None:
    months = sorted({row[3].date().replace(day=1) for rows in batches for row in rows})
    with psycopg.connect(**psycopg_conninfo(url)) as conn:
        conn.execute("SELECT floyo_ensure_event_partition(m) FROM unnest(%s::date[]) AS m", (months,))


def device_ids(url: str) -> tuple[int, int]:
    with psycopg.connect(**psycopg_conninfo(url)) as conn:
        row = conn.execute("SELECT user_id, id FROM devices ORDER BY id LIMIT 1").fetchone()
        assert row is not None
        return int(row[0]), int(row[1])


# --- the report ------------------------------------------------------------------------------------


def machine() -> str:
    with open("/proc/cpuinfo") as f:
        cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), "?")
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB RAM, Python {platform.python_version()}"


def server_version(url: str) -> str:
    with psycopg.connect(**psycopg_conninfo(url)) as conn:
        row = conn.execute("SHOW server_version").fetchone()
        sc = conn.execute("SHOW synchronous_commit").fetchone()
        assert row is not None
        assert sc is not None
        return f"PostgreSQL {row[0]} (synchronous_commit={sc[0]})"


def pct(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def report(api: ApiResult, baselines: dict[str, Baseline], *, args: argparse.Namespace, url: str) -> str:
    best_copy = max((v.rate for k, v in baselines.items() if "COPY" in k), default=float("nan"))
    ours = {k: v for k, v in api.cpu.items() if k != "machine"}
    api_other = max(0.0, api.cpu["machine"] - sum(ours.values())) / api.seconds
    lines = [
        f"- {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {machine()}, {server_version(url)}",
        f"- `{' '.join(shlex.quote(a) for a in ['.venv/bin/python', 'bench/ingest.py', *sys.argv[1:]])}`",
        f"- API: {api.events:,} events, {args.clients} client processes, batches of {args.batch:,}, "
        f"{args.workers} uvicorn workers; {api.accepted:,} accepted (incl. warm-up), rows in table verified",
        "",
        "| path | rows/s | vs best raw COPY | CPU per 1,000 rows | p50 request | p99 request | other load |",
        "|---|---:|---:|---:|---:|---:|---:|",
        f"| API `POST /api/v1/telemetry` (HTTP, auth, validate, dedupe, COPY, commit) | {api.rate:,.0f} | "
        f"{'n/a' if math.isnan(best_copy) else f'{api.rate / best_copy:.0%}'} | "
        f"{sum(ours.values()) / api.events * 1e6:.1f} ms | "
        f"{pct(api.latencies, 50) * 1000:.0f} ms | {pct(api.latencies, 99) * 1000:.0f} ms | {api_other:.2f} cores |",
    ]
    for name, b in baselines.items():
        lines.append(
            f"| {name} | {b.rate:,.0f} | {b.rate / best_copy:.0%} | {b.cpu / b.rows * 1e6:.1f} ms | | | "
            f"{max(0.0, b.other) / b.seconds:.2f} cores |"
        )
    per_k = ", ".join(f"{k} {v / api.events * 1e6:.1f} ms" for k, v in ours.items())
    lines += [
        "",
        f"CPU per 1,000 events through the API: {per_k}; busy {sum(ours.values()) / api.seconds:.2f} of "
        f"{os.cpu_count()} cores. CPU counts the client side too (for the baselines, this process); "
        "other load: CPU used meanwhile by processes outside the benchmark.",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000, help="events sent through the API")
    parser.add_argument("--clients", type=int, default=4, help="concurrent HTTP client processes")
    parser.add_argument("--batch", type=int, default=1000, help="events per request (and rows per COPY)")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--baseline-events", type=int, default=None, help="rows for each baseline (default --events)")
    parser.add_argument("--skip-baselines", action="store_true", help="only the API figure")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("FLOYO_BENCH_DATABASE_URL"),
        help="server and database to use (recreated; name must contain 'bench'); default: embedded PostgreSQL",
    )
    args = parser.parse_args()

    url = prepare_database(args.database_url)
    print(f"database ready; encoding {args.events:,} events in {args.clients} clients ...", flush=True)
    api = run_api(url, events=args.events, clients=args.clients, batch=args.batch, workers=args.workers)
    stored = count_events(url)
    print(f"API: {api.rate:,.0f} events/s over {api.seconds:.1f} s; {stored:,} rows stored", flush=True)
    if stored != api.accepted or api.other:
        raise SystemExit(f"row count {stored} != accepted {api.accepted} (other outcomes: {api.other})")

    baselines: dict[str, Baseline] = {}
    if not args.skip_baselines:
        n = args.baseline_events or args.events
        user_id, device_id = device_ids(url)
        for name, store, convert in (
            ("psycopg binary COPY straight into events (1 connection, commit per batch)", copy_binary, as_binary),
            ("psycopg text COPY straight into events (1 connection, commit per batch)", copy_text, None),
            ("INSERT … ON CONFLICT via unnest arrays, event_keys + events (1 connection)", insert_unnest, None),
        ):
            batches = equivalent_rows(random.randrange(1 << 30), n, args.batch, user_id, device_id)
            batches = convert(batches) if convert else batches
            ensure_partitions(url, batches)
            before = count_events(url)
            baselines[name] = _timed(url, batches, store)
            added = count_events(url) - before
            if added != baselines[name].rows:
                raise SystemExit(f"{name}: {added} rows added, expected {baselines[name].rows}")
            print(f"{name}: {baselines[name].rate:,.0f} rows/s", flush=True)
    print()
    print(report(api, baselines, args=args, url=url))


if __name__ == "__main__":
    main()
