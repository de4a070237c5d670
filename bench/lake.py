"""Benchmark the lake: PostgreSQL -> Parquet export and the feature build, each against a same-run baseline.

    .venv/bin/python -m bench.lake --events 2000000 [--repeat 3] [--export-only] [--database-url postgresql://...]

Fills a dedicated database with synthetic events (SQL generate_series, not the ingest path: this measures the
export, not ingest), then, ``--repeat`` rounds in turn: the raw ``COPY (SELECT ...) TO STDOUT`` into a file through
psycopg (the baseline), the same through ``psql``'s ``\\copy`` (C client), ``floyo export --full``'s code path in
this process and as the ``floyo export`` command (a new process: start and imports included). Each gets its wall
time and the CPU seconds of the client and of PostgreSQL (its backends of the bench database, sampled from
/proc), and each round's export/COPY ratio; the export's phases say where its time goes. Then (unless
``--export-only``) the candidate PostgreSQL -> Arrow readers, the feature build (sessions + transactions +
sequences) with its peak memory, and one plain DuckDB SQL query computing the same sessions (baseline).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

REPO = Path(__file__).resolve().parent.parent
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/floyo_bench_lake"
GENERATE = """
INSERT INTO events (event_id, user_id, device_id, ts, client_ts, skew_ms, received_at, kind, root, path, ext,
                    dest_path, tool, exit_code, duration_ms, meta)
SELECT gen_random_uuid(), u, u, t, t, 0, t, k::event_kind, 'projects',
       CASE WHEN k = 'run' THEN '' ELSE p || '.' || e END, CASE WHEN k = 'run' THEN '' ELSE e END,
       CASE WHEN k = 'move' THEN 'archive/' || p || '.' || e END,
       CASE WHEN k = 'run' THEN (ARRAY['pytest','python','make','pandoc','git','npm'])[1 + h %% 6] END,
       CASE WHEN k = 'run' THEN ((h >> 8) %% 2)::int END, CASE WHEN k = 'run' THEN (h >> 4) %% 60000 END,
       CASE WHEN k = 'run' THEN '{"source": "bench"}'::jsonb END
FROM (
  SELECT i, h, 1 + (h >> 3) %% %(users)s AS u,
         %(start)s::timestamptz + ((i * %(days)s) / %(n)s) * interval '1 day' + interval '8 hours'
             + ((h >> 11) %% 36000) * interval '1 second' AS t,
         (ARRAY['modify','modify','modify','modify','open','create','run','run','delete','move'])[1 + (h >> 5) %% 10] AS k,
         'd' || ((h >> 7) %% 12) || '/f' || ((h >> 13) %% 40) AS p,
         (ARRAY['py','csv','md','txt','json','ipynb','png','pdf','html','sql'])[1 + (h >> 17) %% 10] AS e
  FROM (SELECT i, abs(hashint8(i)) AS h FROM generate_series(%(lo)s, %(hi)s) AS i) g
) s
"""


def sqlalchemy_url(url: str) -> str:
    return "postgresql+psycopg://" + url.split("://", 1)[1]


def fill(url: str, n: int, *, users: int, days: int) -> float:
    """Empty and migrate the database, then insert ``n`` synthetic events in time order; returns seconds."""
    from floyo.db import migrate
    from tests.utils.db import reset_database

    reset_database(sqlalchemy_url(url))
    migrate.upgrade(sqlalchemy_url(url))
    start = (datetime.now(UTC) - timedelta(days=days)).replace(hour=0, minute=0, second=0, microsecond=0)
    t0 = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        months = {(start + timedelta(days=d)).date().replace(day=1) for d in range(days + 2)}
        conn.execute("SELECT floyo_ensure_event_partition(m) FROM unnest(%s::date[]) AS m", (sorted(months),))
        step = 1_000_000
        for lo in range(0, n, step):
            params = {"users": users, "start": start, "days": days, "n": n, "lo": lo, "hi": min(n, lo + step) - 1}
            conn.execute(GENERATE, params)
        conn.execute("VACUUM ANALYZE events")
    return time.perf_counter() - t0


def select_sql(lo: int, hi: int) -> str:
    from ingest.lake_read import SELECT

    return f"SELECT {SELECT} FROM events WHERE seq > {lo} AND seq <= {hi}"


def csv_to_arrow(url: str, lo: int, hi: int) -> int:
    """The measured alternative: CSV COPY from a producer thread through a pipe into pyarrow's C++ CSV reader."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    from ingest.lake_export import LAKE_SCHEMA

    naive = {f.name: pa.timestamp("us") if pa.types.is_timestamp(f.type) else f.type for f in LAKE_SCHEMA}
    select = ", ".join(f"{c} AT TIME ZONE 'UTC'" if pa.types.is_timestamp(t) else c for c, t in naive.items())
    read_fd, write_fd = os.pipe()

    def produce() -> None:
        with (
            psycopg.connect(url) as conn,
            os.fdopen(write_fd, "wb") as pipe,
            conn.cursor().copy(
                f"COPY (SELECT {select} FROM events WHERE seq > {lo} AND seq <= {hi}) TO STDOUT (FORMAT csv)"
            ) as copy,
        ):
            for block in copy:
                pipe.write(block)

    producer = threading.Thread(target=produce)
    producer.start()
    with os.fdopen(read_fd, "rb") as pipe:
        table = pacsv.read_csv(
            pipe,
            read_options=pacsv.ReadOptions(column_names=list(naive), block_size=16 << 20),
            convert_options=pacsv.ConvertOptions(column_types=naive, strings_can_be_null=True,
                                                 quoted_strings_can_be_null=False),
        )  # fmt: skip
    producer.join()
    return int(table.cast(LAKE_SCHEMA).num_rows)


def reader_timings(url: str, lo: int, hi: int) -> list[tuple[str, float]]:
    """PostgreSQL -> Arrow candidates on the same rows: (name, seconds)."""
    from floyo.db.engine import psycopg_conninfo
    from ingest.lake_read import stream_range

    timings = []
    t0 = time.perf_counter()
    with (
        psycopg.connect(url) as conn,
        conn.cursor().copy(f"COPY ({select_sql(lo, hi)}) TO STDOUT (FORMAT binary)") as cp,
    ):
        for _ in cp:
            pass
    timings.append(("psycopg binary COPY, bytes only (no parsing)", time.perf_counter() - t0))
    t0 = time.perf_counter()
    csv_to_arrow(url, lo, hi)
    timings.append(("psycopg CSV COPY -> pyarrow.csv", time.perf_counter() - t0))
    t0 = time.perf_counter()
    stream_range(psycopg_conninfo(sqlalchemy_url(url)), lo, hi)
    timings.append(("ADBC, uuid/jsonb in binary, text made in numpy (chosen)", time.perf_counter() - t0))
    # before issue 16: uuid and jsonb cast to text by PostgreSQL
    as_text = (
        select_sql(lo, hi)
        .replace("event_id,", "event_id::text AS event_id,", 1)
        .replace(", meta", ", meta::text AS meta")
    )
    import adbc_driver_postgresql.dbapi as adbc  # type: ignore[import-untyped]

    t0 = time.perf_counter()
    with adbc.connect(url) as conn, conn.cursor() as cur:
        cur.execute(as_text)
        cur.fetch_arrow_table()
    timings.append(("ADBC, uuid/jsonb cast to text in the query", time.perf_counter() - t0))
    try:
        import connectorx

        t0 = time.perf_counter()
        connectorx.read_sql(url, as_text, return_type="arrow")
        timings.append(("ConnectorX", time.perf_counter() - t0))
    except ImportError:
        timings.append(("ConnectorX: not installed", float("nan")))
    return timings


def child_features(lake: str) -> None:
    from features.build import CORE_TABLES, build_features

    build_features(Path(lake), only=CORE_TABLES)


SESSIONS_SQL = """
COPY (
  WITH gaps AS (
    SELECT user_id, ts,
           CASE WHEN ts - lag(ts) OVER w > INTERVAL 30 MINUTE THEN 0 ELSE 1 END AS same
    FROM read_parquet('{glob}', hive_partitioning = true) WINDOW w AS (PARTITION BY user_id ORDER BY ts, seq)
  ), numbered AS (
    SELECT user_id, ts, sum(1 - same) OVER (PARTITION BY user_id ORDER BY ts ROWS UNBOUNDED PRECEDING) AS session
    FROM gaps
  )
  SELECT user_id, session, min(ts) AS start, max(ts) AS "end", count(*) AS n_events
  FROM numbered GROUP BY user_id, session
) TO '{out}' (FORMAT parquet)
"""


def child_duckdb(lake: str) -> None:
    from features.lake import connect, events_glob

    out = Path(lake) / "bench_duckdb_sessions.parquet"
    connect(path=Path(lake)).execute(SESSIONS_SQL.format(glob=events_glob(Path(lake)), out=out))
    out.unlink()


def run_child(kind: str, lake: Path) -> tuple[float, float]:
    """Run a step in a fresh process; (seconds, peak RSS in GiB)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "bench.lake", f"--child-{kind}", str(lake)], cwd=REPO)
    _, status, usage = os.wait4(proc.pid, 0)  # this child's own peak, not the largest child so far
    seconds = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise subprocess.CalledProcessError(proc.returncode, proc.args)
    return seconds, usage.ru_maxrss / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--reader-events", type=int, default=2_000_000, help="rows for the reader comparison")
    parser.add_argument("--database-url", default=os.environ.get("FLOYO_BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--reuse", action="store_true", help="keep the database if it already holds --events rows")
    parser.add_argument("--repeat", type=int, default=3, help="rounds of COPY vs export (ratios taken per round)")
    parser.add_argument("--export-only", action="store_true", help="only export vs COPY: no readers, no features")
    parser.add_argument("--other-checkout", type=Path, help="also time `floyo export` of this checkout (before/after)")
    parser.add_argument("--child-features")
    parser.add_argument("--child-duckdb")
    args = parser.parse_args()
    if args.child_features:
        return child_features(args.child_features)
    if args.child_duckdb:
        return child_duckdb(args.child_duckdb)
    run(args)


def _count(url: str) -> int:
    try:
        with psycopg.connect(url) as conn:
            return int(conn.execute("SELECT count(*) FROM events").fetchone()[0])  # type: ignore[index]
    except psycopg.Error:
        return -1


def run(args: Any) -> None:
    from bench.export_vs_copy import compare, headline, report

    url, n = args.database_url, args.events
    fill_s = None
    if not (args.reuse and _count(url) == n):
        fill_s = fill(url, n, users=args.users, days=args.days)
    rows: list[tuple[str, int, float, str]] = []
    with tempfile.TemporaryDirectory(prefix="floyo-bench-lake-") as tmp:
        load = os.getloadavg()[0]
        runs = compare(url, select_sql(0, n), Path(tmp), args.repeat, args.other_checkout)
        if not args.export_only:
            k = min(n, args.reader_events)
            for name, seconds in reader_timings(url, 0, k):
                rows.append((f"reader: {name}", k, seconds, ""))
            lake = Path(tmp) / "data" / "lake"
            duck_s, duck_mem = run_child("duckdb", lake)
            feat_s, feat_mem = run_child("features", lake)
            rows.append(("baseline: one DuckDB SQL query, sessions -> Parquet", n, duck_s, f"peak {duck_mem:.2f} GiB"))
            rows.append(("features build: sessions+transactions+sequences", n, feat_s, f"peak {feat_mem:.2f} GiB"))
    print(f"\n{n:,} synthetic events, {args.users} users, {args.days} days; {os.cpu_count()} CPUs, load average "
          f"{load:.1f} at the start, {os.getloadavg()[0]:.1f} at the end; fill {'reused' if fill_s is None else f'{fill_s:.0f} s'}; "
          f"{args.repeat} rounds, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n")  # fmt: skip
    print("\n".join(report(runs, n)))
    print(f"\n{headline(runs)}")
    if rows:
        print_table(rows)
    print(f"\nreproduce: .venv/bin/python -m bench.lake --events {n} --users {args.users} --days {args.days} "
          f"--repeat {args.repeat}{' --export-only' if args.export_only else ''}")  # fmt: skip


def print_table(rows: list[tuple[str, int, float, str]]) -> None:
    print("\n| step | events | seconds | events/s | note |\n|---|---:|---:|---:|---|")
    for name, count, seconds, note in rows:
        rate = f"{count / seconds:,.0f}" if seconds == seconds and seconds > 0 else "-"
        print(f"| {name} | {count:,} | {seconds:.2f} | {rate} | {note} |")


if __name__ == "__main__":
    main()
