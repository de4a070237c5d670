"""Does one server hold up under minutes of mixed load: no errors, a flat RSS, and every accepted event stored?

A dedicated database (``floyo_bench_soak``, dropped and recreated) gets ``--users`` users with a device token and
3-12 suggestions each, inserted as the table owner (``bench.serving.seed``). One real ``floyo serve`` (its default
workers: ``--workers``) then takes, for ``--minutes`` (default 10), open-loop load from one asyncio client process:

- ingest: ``--agents`` simulated agents (the first users), each posting a batch of ``--batch`` fresh events
  (``bench.ingest.EventFactory``: unique uuid4 ids) every ``--interval`` seconds, from a random phase; with
  probability ``--resend`` an agent sends its previous batch again (an answer lost on the way: all duplicates);
  a failed batch is sent again on the next tick, as the agent's spool would;
- ``GET /api/v1/suggestions`` for random users (``--reads`` per second);
- ``POST /api/v1/suggestions/{id}/feedback`` (dismiss or snooze, ``--feedback`` per second) on random suggestions;
- ``POST /api/v1/workflows`` (``--workflows`` per second) for random agents' users;
- ``GET /api/v1/events/export`` (CSV, read to the end) of a random agent's events every ``--export-every`` s.

Reports a markdown table per operation (requests, throughput, p50, p99, errors and the error rate: any exception,
or an answer other than the expected status), the server's RSS (summed over its processes from ``/proc``) after
the first minute and at the end, and the final check: the unique event ids of every batch answered 200 equal the
rows in ``events``, and the accepted counts add up to them.

    make bench-soak             # or: .venv/bin/python -m bench.soak [--minutes 10] [--agents 50]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import psutil
import psycopg

from bench.ingest import EventFactory, count_events, free_port, machine, pct, prepare_database, serve, server_version
from bench.serving import seed
from floyo.db import psycopg_conninfo

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/floyo_bench_soak"
OPERATIONS = ("ingest", "suggestions", "feedback", "workflow", "export")


@dataclass
class Stats:
    """What one operation saw: latencies of answered requests, failures by kind."""

    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)

    @property
    def requests(self) -> int:
        return len(self.latencies) + sum(self.errors.values())


@dataclass
class Ledger:
    """The ingest side's books: what the server said it accepted, against the ids it answered 200 for."""

    ids: set[str] = field(default_factory=set)
    accepted: int = 0
    duplicate: int = 0
    rejected: int = 0
    resent_events: int = 0
    events_sent: int = 0


@dataclass
class Soak:
    client: httpx.AsyncClient
    tokens: list[str]
    suggestions: list[tuple[int, str]]  # (token index, suggestion id)
    args: argparse.Namespace
    stats: dict[str, Stats] = field(default_factory=lambda: {op: Stats() for op in OPERATIONS})
    ledger: Ledger = field(default_factory=Ledger)
    rng: random.Random = field(default_factory=lambda: random.Random(7))
    workflows: int = 0

    def headers(self, i: int) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[i]}"}

    async def timed(self, op: str, expected: int, call: Awaitable[httpx.Response]) -> httpx.Response | None:
        """The answer when it has the expected status (its latency recorded), else None (an error recorded)."""
        began = time.perf_counter()
        try:
            answer = await call
        except httpx.HTTPError as exc:
            self.stats[op].errors[type(exc).__name__] += 1
            return None
        if answer.status_code != expected:
            self.stats[op].errors[str(answer.status_code)] += 1
            return None
        self.stats[op].latencies.append(time.perf_counter() - began)
        return answer

    async def agent(self, i: int, stop: float) -> None:
        """One device: a batch every interval, sometimes the previous one again, a failed one retried."""
        factory = EventFactory(10_000 + i, batches=100_000, days=10)
        await asyncio.sleep(self.rng.uniform(0, self.args.interval))
        previous: bytes | None = None
        pending: tuple[bytes, list[str]] | None = None
        while time.monotonic() < stop:
            tick = time.monotonic()
            resend = pending is None and previous is not None and self.rng.random() < self.args.resend
            if pending is None and not resend:
                events = factory.batch(self.args.batch)
                pending = (orjson.dumps({"events": events}), [e["event_id"] for e in events])
                self.ledger.events_sent += len(events)
            body = previous if resend else pending[0] if pending else None
            assert body is not None
            call = self.client.post(
                "/api/v1/telemetry", content=body, headers={**self.headers(i), "Content-Type": "application/json"}
            )
            answer = await self.timed("ingest", 200, call)
            if answer is not None:
                result = answer.json()
                self.ledger.accepted += result["accepted"]
                self.ledger.duplicate += result["duplicate"]
                self.ledger.rejected += result["rejected"]
                if resend:
                    self.ledger.resent_events += self.args.batch
                elif pending is not None:
                    self.ledger.ids.update(pending[1])
                    previous, pending = pending[0], None
            await asyncio.sleep(max(0.0, self.args.interval - (time.monotonic() - tick)))

    async def read(self) -> None:
        i = self.rng.randrange(len(self.tokens))
        await self.timed("suggestions", 200, self.client.get("/api/v1/suggestions", headers=self.headers(i)))

    async def feedback(self) -> None:
        i, sid = self.rng.choice(self.suggestions)
        action = self.rng.choice(("dismiss", "snooze"))
        body = {"action": action, "reason": "soak"} if action == "dismiss" else {"action": action, "days": 3}
        url = f"/api/v1/suggestions/{sid}/feedback"
        await self.timed("feedback", 200, self.client.post(url, json=body, headers=self.headers(i)))

    async def workflow(self) -> None:
        self.workflows += 1
        i = self.rng.randrange(self.args.agents)
        definition = {
            "name": f"Build thesis/*.tex with latexmk on save #{self.workflows}",
            "triggers": [{"type": "file", "root": "documents", "paths": ["thesis/*.tex"], "events": ["modify"]}],
            "actions": [{"type": "run", "command": ["latexmk"], "args_from_history": True}],
        }
        await self.timed(
            "workflow", 201, self.client.post("/api/v1/workflows", json=definition, headers=self.headers(i))
        )

    async def export(self) -> None:
        i = self.rng.randrange(self.args.agents)
        began = time.perf_counter()
        stats = self.stats["export"]
        try:
            async with self.client.stream("GET", "/api/v1/events/export", headers=self.headers(i)) as answer:
                if answer.status_code != 200:
                    stats.errors[str(answer.status_code)] += 1
                    return
                async for _ in answer.aiter_bytes():
                    pass
        except httpx.HTTPError as exc:
            stats.errors[type(exc).__name__] += 1
            return
        stats.latencies.append(time.perf_counter() - began)


async def every(
    period: float, stop: float, call: Callable[[], Coroutine[Any, Any, None]], tasks: set[asyncio.Task[None]]
) -> None:
    """Open loop: ``call`` started every ``period`` seconds whether or not the previous ones have answered."""
    if period <= 0:
        return
    due = time.monotonic()
    while (due := due + period) < stop:
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        task = asyncio.create_task(call())
        tasks.add(task)
        task.add_done_callback(tasks.discard)


def rss_bytes(pid: int) -> int:
    """Resident memory of the server and every process under it (uvicorn's workers), read from /proc."""
    total = 0
    for p in [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]:
        try:
            status = Path(f"/proc/{p.pid}/status").read_text()
        except OSError:  # a worker gone between the listing and the read
            continue
        kb = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
        total += kb * 1024
    return total


async def run(soak: Soak, server_pid: int) -> list[tuple[float, int]]:
    """The load for ``--minutes``; RSS samples (seconds since start, bytes) every 5 s."""
    args = soak.args
    start = time.monotonic()
    stop = start + args.minutes * 60
    tasks: set[asyncio.Task[None]] = set()
    loops = [asyncio.create_task(soak.agent(i, stop)) for i in range(args.agents)]
    loops += [
        asyncio.create_task(every(1 / args.reads, stop, soak.read, tasks)),
        asyncio.create_task(every(1 / args.feedback, stop, soak.feedback, tasks)),
        asyncio.create_task(every(1 / args.workflows, stop, soak.workflow, tasks)),
        asyncio.create_task(every(args.export_every, stop, soak.export, tasks)),
    ]
    samples = [(0.0, rss_bytes(server_pid))]
    next_report = start + 60
    while time.monotonic() < stop:
        await asyncio.sleep(5)
        now = time.monotonic()
        samples.append((now - start, rss_bytes(server_pid)))
        if now >= next_report:
            next_report += 60
            done = {op: s.requests for op, s in soak.stats.items()}
            errors = sum(sum(s.errors.values()) for s in soak.stats.values())
            print(f"{(now - start) / 60:4.1f} min: {done}, errors {errors}, RSS {samples[-1][1] / 2**20:.0f} MiB",
                  flush=True)  # fmt: skip
    await asyncio.gather(*loops)
    while tasks:  # the last open-loop calls finish
        await asyncio.gather(*list(tasks))
    samples.append((time.monotonic() - start, rss_bytes(server_pid)))
    return samples


def suggestion_pool(url: str) -> list[tuple[int, str]]:
    """Every seeded suggestion with the index of its user's token (``seed`` returns tokens in name order)."""
    with psycopg.connect(**psycopg_conninfo(url)) as conn:
        rows = conn.execute("SELECT u.name, s.id FROM suggestions s JOIN users u ON u.id = s.user_id").fetchall()
    return [(int(name.removeprefix("bench-")), sid) for name, sid in rows]


def report(soak: Soak, samples: list[tuple[float, int]], *, seconds: float, stored: int, url: str) -> str:
    args = soak.args
    lines = [
        f"Soak: {args.minutes} min against `python -m floyo serve --workers {args.workers}`, {args.agents} agents "
        f"({args.batch} events every {args.interval:g} s, {args.resend:.0%} resends), {args.reads:g} suggestion "
        f"reads/s, {args.feedback:g} feedback/s, {args.workflows:g} workflow creates/s, an export every "
        f"{args.export_every:g} s; {args.users:,} users with suggestions. {machine()}, {server_version(url)}.",
        "",
        "| operation | requests | req/s | p50 | p99 | errors | error rate |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for op, s in soak.stats.items():
        lat = sorted(s.latencies)
        failed = sum(s.errors.values())
        p50 = f"{pct(lat, 50) * 1e3:.0f} ms" if lat else "-"
        p99 = f"{pct(lat, 99) * 1e3:.0f} ms" if lat else "-"
        kinds = f" ({', '.join(f'{k}: {v}' for k, v in s.errors.items())})" if failed else ""
        rate = failed / s.requests if s.requests else 0.0
        lines.append(f"| {op} | {s.requests:,} | {s.requests / seconds:,.1f} | {p50} | {p99} | {failed}{kinds} | "
                     f"{rate:.2%} |")  # fmt: skip
    ledger = soak.ledger
    after_minute = next((b for t, b in samples if t >= 60), samples[0][1])
    end, peak = samples[-1][1], max(b for _, b in samples)
    mib = 2**20
    lines += [
        "",
        f"Events: {len(ledger.ids):,} unique ids answered 200 ({len(ledger.ids) / seconds:,.0f} events/s), "
        f"accepted {ledger.accepted:,}, duplicates {ledger.duplicate:,} (resent {ledger.resent_events:,}), "
        f"rejected {ledger.rejected:,}; rows in events: {stored:,}. "
        f"**stored = sent: {'yes' if stored == len(ledger.ids) == ledger.accepted else 'NO'}**",
        f"Server RSS (all processes): {samples[0][1] / mib:.0f} MiB at the start, {after_minute / mib:.0f} MiB after "
        f"1 min, {end / mib:.0f} MiB at the end (peak {peak / mib:.0f} MiB): "
        f"{(end - after_minute) / mib:+.0f} MiB after the first minute.",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=os.environ.get("FLOYO_BENCH_SOAK_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--workers", type=int, default=1, help="server workers (floyo serve's default: 1)")
    parser.add_argument("--users", type=int, default=2000, help="users with suggestions (the agents are the first)")
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument("--batch", type=int, default=40, help="events per batch")
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between an agent's batches")
    parser.add_argument("--resend", type=float, default=0.03, help="share of batches sent twice")
    parser.add_argument("--reads", type=float, default=20, help="suggestion reads per second")
    parser.add_argument("--feedback", type=float, default=2, help="feedback writes per second")
    parser.add_argument("--workflows", type=float, default=0.5, help="workflow creates per second")
    parser.add_argument("--export-every", type=float, default=30, help="seconds between exports")
    args = parser.parse_args()
    if args.agents > args.users:
        raise SystemExit("--agents must not exceed --users")

    url = prepare_database(args.database_url)
    tokens, n = seed(url, args.users)
    pool = suggestion_pool(url)
    print(f"seeded {args.users:,} users and {n:,} suggestions", flush=True)
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        env = {"FLOYO_MLFLOW_URI": f"sqlite:///{tmp}/mlflow.db", "FLOYO_LOG_FORMAT": "json"}
        with serve(url, args.workers, port, env) as server:

            async def go() -> tuple[Soak, list[tuple[float, int]], float]:
                limits = httpx.Limits(max_connections=args.agents + 100, max_keepalive_connections=args.agents + 100)
                async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60, limits=limits) as client:
                    soak = Soak(client, tokens, pool, args)
                    began = time.monotonic()
                    samples = await run(soak, server.pid)
                    return soak, samples, time.monotonic() - began

            soak, samples, seconds = asyncio.run(go())
    print()
    print(report(soak, samples, seconds=seconds, stored=count_events(url), url=url))


if __name__ == "__main__":
    main()
