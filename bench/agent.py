"""What does the agent cost, and does it keep up? Compared with a bare watchdog observer in the same run.

    .venv/bin/python -m bench.agent [--files 50000] [--idle 60] [--burst 10000] [--workflows 50] [--trials 20] \
        [--database-url postgresql://postgres@127.0.0.1:5432/floyo_bench_agent]

Builds a tree of ``--files`` files, starts a real ``floyo serve`` on a dedicated database (dropped and recreated:
its name must contain ``bench``), a real ``floyo agent watch`` and, beside it, a bare watchdog observer that only
counts events (the baseline). Measures both processes' CPU and peak RSS while idle for ``--idle`` seconds, then a
burst of ``--burst`` new files written as fast as possible (raw events counted by the baseline; distinct files
captured by the agent and delivered to the server, and how fast), then end-to-end delay (file written -> stored
by the server, ``received_at``) for a trickle of 200 edits at 20/s. Prints a markdown table.

With ``--workflows N`` (default 50) the agent runs with N approved workflows loaded (created through the API,
synced and approved in the agent's local store before it starts): file triggers with moves, copies, runs and
webhooks on folders the benchmark does not touch, schedules, and one run-on-save on ``lat/*.txt``. Idle CPU, RSS
and the burst are then measured with them loaded, and ``--trials`` saves of ``lat/`` files measure the trigger ->
action start latency after the debounce (the watcher's ``debounce_seconds`` + the trigger's ``debounce_ms``).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import psutil

REPO = Path(__file__).resolve().parent.parent
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/floyo_bench_agent"


def bare_observer(root: str, counts_file: str) -> None:
    """The baseline: a watchdog observer whose handler only counts events by type."""
    from watchdog.events import FileSystemEventHandler
    from watchdog.observers import Observer

    counts: dict[str, int] = {}

    class Count(FileSystemEventHandler):
        def on_any_event(self, event) -> None:
            counts[event.event_type] = counts.get(event.event_type, 0) + 1

    observer = Observer()
    observer.schedule(Count(), root, recursive=True)
    observer.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    while not stop.wait(0.1):
        tmp = counts_file + ".tmp"
        Path(tmp).write_text(json.dumps(dict(counts)))
        os.replace(tmp, counts_file)
    observer.stop()


def bare_counts(counts_file: Path) -> dict[str, int]:
    try:
        return dict(json.loads(counts_file.read_text()))
    except (OSError, ValueError):
        return {}


def rel_path(i: int) -> str:
    """File i of the tree: 100 files a folder, 50 folders a top folder."""
    return f"d{i // 5000:03}/s{(i // 100) % 50:02}/f{i:06}.txt"


def make_tree(root: Path, files: int) -> None:
    for i in range(files):
        path = root / rel_path(i)
        if i % 100 == 0:
            path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")


def prepare_database(url: str) -> None:
    from floyo.db import migrate
    from tests.utils.db import reset_database

    if "bench" not in url.rsplit("/", 1)[-1]:
        raise SystemExit("the benchmark database is dropped and recreated: its name must contain 'bench'")
    sa_url = url.replace("postgresql://", "postgresql+psycopg://", 1) if url.startswith("postgresql://") else url
    reset_database(sa_url)
    migrate.upgrade(sa_url)


def wait(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise SystemExit(f"timed out waiting for {what}")


def peak_rss(pid: int) -> int:
    """The process's RSS high-water mark (VmHWM): the true peak, not a sample."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def cpu_seconds(proc: psutil.Process) -> float:
    t = proc.cpu_times()
    return float(t.user + t.system)


def stored(url: str, token: str, prefix: str) -> list[dict[str, Any]]:
    """Every stored event whose path starts with ``prefix`` (all pages)."""
    events, cursor = [], None
    with httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=30) as client:
        while True:
            params = {"limit": 1000, **({"cursor": cursor} if cursor else {})}
            page = client.get(f"{url}/api/v1/events", params=params).json()
            events += [e for e in page["events"] if e["path"].startswith(prefix)]
            cursor = page["next_cursor"]
            if not cursor:
                return events


AGENT_DEBOUNCE_S = 0.5  # the agent's default debounce_seconds
LATENCY_DEBOUNCE_MS = 1000
STAMP = """import pathlib, sys, time
t = time.time()
src = pathlib.Path(sys.argv[1])
(pathlib.Path(sys.argv[2]) / (src.name + ".t")).write_text(repr(t))
"""


def bench_workflows(count: int, stamp: Path, stamps: Path) -> list[dict[str, Any]]:
    """``count`` definitions: the first is the measured run-on-save, the others never fire during the benchmark
    (their folders are not written) but are matched against every event and keep their schedules."""
    out: list[dict[str, Any]] = [{
        "name": "bench: run on save", "mode": "parallel", "max": 5,
        "triggers": [{"type": "file", "root": "tree", "paths": ["lat/*.txt"], "events": ["create", "modify"],
                      "debounce_ms": LATENCY_DEBOUNCE_MS}],
        "actions": [{"type": "run", "command": [sys.executable, str(stamp), "{trigger.path}", str(stamps)],
                     "timeout_s": 30}],
    }]  # fmt: skip
    for i in range(1, count):
        kind = i % 5
        action: dict[str, Any]
        trigger: dict[str, Any] = {"type": "file", "root": "tree", "events": ["create", "modify"],
                                   "debounce_ms": 2000, "paths": [f"inbox{i}/*.pdf", f"inbox{i}/**/*.PDF"]}  # fmt: skip
        if kind == 0:
            trigger, action = {"type": "schedule", "cron": f"{i % 60} 3 * * *"}, {"type": "notify", "message": "3 am"}
        elif kind == 1:
            action = {"type": "move", "dest": "Documents/{trigger.ext}/"}
        elif kind == 2:
            action = {"type": "copy", "dest": f"backup{i}/"}
        elif kind == 3:
            trigger["paths"] = [f"proj{i}/**/*.py", f"proj{i}/pyproject.toml"]
            action = {"type": "run", "command": ["pytest", "-q"], "cwd": ".", "writes": [f"proj{i}/.cache/**"]}
        else:
            trigger["paths"] = [f"hooks{i}/*.json"]
            action = {"type": "webhook", "url": f"http://127.0.0.1:9/hook/{i}", "retries": 1}
        out.append({"name": f"bench workflow {i}", "triggers": [trigger], "actions": [action]})
    return out


def load_workflows(url: str, token: str, root: Path, state: Path, definitions: list[dict[str, Any]]) -> int:
    """Create the workflows on the server, sync them into the agent's store and approve each as the person would
    (`floyo agent approve ID --yes`); returns how many are approved."""
    from agent.config import AgentConfig
    from agent.workflows.store import WorkflowStore
    from agent.workflows.sync import sync_now

    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as client:
        for definition in definitions:
            answer = client.post("/api/v1/workflows", json=definition)
            if answer.status_code != 201:
                raise SystemExit(f"creating a workflow: {answer.status_code} {answer.text[:300]}")
    config = AgentConfig(roots={"tree": root}, server=url, token=token, state_dir=state)
    store = WorkflowStore(config)
    sync_now(config, store)
    for workflow in store.workflows():
        store.approve(workflow)
    approved = len(store.runnable())
    store.close()
    return approved


def latency_trials(root: Path, stamps: Path, state: Path, url: str, token: str, trials: int) -> dict[str, list[float]]:
    """Save ``trials`` files one after the other; for each, seconds from the end of both debounces to the engine
    starting the run (its record) and to the program's first line."""
    from agent.config import AgentConfig
    from agent.workflows.store import WorkflowStore

    lat = root / "lat"
    lat.mkdir()
    store = WorkflowStore(AgentConfig(roots={"tree": root}, server=url, token=token, state_dir=state))

    def finished(name: str) -> bool:
        return any(Path(r.trigger["path"]).name == name and r.outcome for r, _ in store.runs(1, limit=5))

    due: dict[str, float] = {}
    for i in range(trials):
        name = f"save{i:03}.txt"
        (lat / name).write_text(f"save {i}")
        due[name] = time.time() + AGENT_DEBOUNCE_S + LATENCY_DEBOUNCE_MS / 1000
        # the next save once this run is over: a change in the run's folder while it runs is taken as its own
        wait(lambda n=name: finished(n), 60, f"the run of {name}")
    runs = {Path(r.trigger["path"]).name: r for r, _ in store.runs(1, limit=trials * 2)}
    store.close()
    return {
        "engine": sorted(runs[n].started_at - d for n, d in due.items()),
        "program": sorted(float((stamps / f"{n}.t").read_text()) - d for n, d in due.items()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=50_000)
    parser.add_argument("--idle", type=float, default=60.0)
    parser.add_argument("--burst", type=int, default=10_000)
    parser.add_argument("--workflows", type=int, default=50, help="approved workflows loaded in the agent")
    parser.add_argument("--trials", type=int, default=20, help="saves measuring trigger -> action latency")
    parser.add_argument("--database-url", default=os.environ.get("FLOYO_BENCH_DATABASE_URL", DEFAULT_URL))
    args = parser.parse_args()

    prepare_database(args.database_url)
    work = Path(tempfile.mkdtemp(prefix="floyo-bench-agent-"))
    root = work / "tree"
    t0 = time.monotonic()
    make_tree(root, args.files)
    print(f"tree of {args.files} files built in {time.monotonic() - t0:.1f} s", file=sys.stderr)
    env = {**os.environ, "FLOYO_ENV": "test", "FLOYO_DATABASE_URL": args.database_url,
           "FLOYO_DATA_DIR": str(work / "data"), "FLOYO_LOG_LEVEL": "WARNING"}  # fmt: skip
    from tests.utils.server import free_port, wait_until_ready

    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "floyo", "serve", "--port", str(port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    procs: list[subprocess.Popen[bytes]] = [server]
    try:
        wait_until_ready(url, server)
        token = subprocess.run([sys.executable, "-m", "floyo", "token", "create", "--user", "bench", "--device", "b"],
                               env=env, capture_output=True, text=True, check=True).stdout.split()[-1]  # fmt: skip
        state = work / "state"
        stamps, stamp = work / "stamps", work / "stamp.py"
        stamps.mkdir()
        stamp.write_text(STAMP)
        approved = 0
        if args.workflows:
            approved = load_workflows(url, token, root, state, bench_workflows(args.workflows, stamp, stamps))
        t0 = time.monotonic()
        agent = subprocess.Popen(
            [sys.executable, "-m", "floyo", "agent", "watch", str(root), "--server", url, "--token", token,
             "--state-dir", str(state), "--config", str(work / "none.toml")],
            env=env, stdout=subprocess.DEVNULL, stderr=open(work / "agent.log", "wb"),  # noqa: SIM115
        )  # fmt: skip
        procs.append(agent)
        wait(lambda: b'"ready": true' in (state / "status.json").read_bytes() if (state / "status.json").exists()
             else False, 300, "the agent")  # fmt: skip
        agent_start = time.monotonic() - t0
        counts_file = work / "bare.counts"
        t0 = time.monotonic()
        bare = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--bare", str(root), str(counts_file)],
                                env=env)  # fmt: skip
        procs.append(bare)
        wait(counts_file.exists, 300, "the bare observer")
        bare_start = time.monotonic() - t0

        # idle
        pa, pb = psutil.Process(agent.pid), psutil.Process(bare.pid)
        ca, cb, t0 = cpu_seconds(pa), cpu_seconds(pb), time.monotonic()
        time.sleep(args.idle)
        span = time.monotonic() - t0
        idle_rss_a, idle_rss_b = pa.memory_info().rss, pb.memory_info().rss
        idle_a, idle_b = (cpu_seconds(pa) - ca) / span * 100, (cpu_seconds(pb) - cb) / span * 100
        status = json.loads((state / "status.json").read_bytes()).get("workflows") or {}
        loaded = status.get("runnable", 0)
        latency = latency_trials(root, stamps, state, url, token, args.trials) if approved else None
        pre_burst_peak = peak_rss(agent.pid)

        # burst
        burst_dir = root / "burst"
        burst_dir.mkdir()
        before = bare_counts(counts_file)
        t0 = time.monotonic()
        for i in range(args.burst):
            (burst_dir / f"b{i:06}.txt").write_text("y")
        write_s = time.monotonic() - t0
        wait(lambda: bare_counts(counts_file).get("created", 0) - before.get("created", 0) >= args.burst, 120,
             "the bare observer to see the burst")  # fmt: skip
        bare_s = time.monotonic() - t0
        got = wait(lambda: (e := stored(url, token, "burst/")) and len({x["path"] for x in e}) >= args.burst and e,
                   300, "the burst at the server")  # fmt: skip
        delivered_s = time.monotonic() - t0
        burst_paths = {e["path"] for e in got if e["kind"] == "create"}
        rss_a, rss_b = peak_rss(agent.pid), peak_rss(bare.pid)

        # end-to-end delay of a trickle of edits
        written: dict[str, float] = {}
        for i in range(200):
            rel = rel_path(i)
            (root / rel).write_text(f"edit {i}")
            written[rel] = time.time()
            time.sleep(0.05)
        edits = wait(lambda: len(e := [x for x in stored(url, token, "d000/") if x["kind"] == "modify"]) >= 200
                     and e, 120, "the edits at the server")  # fmt: skip
        overflows = json.loads((state / "status.json").read_bytes()).get("overflows", 0)
        delays = sorted(datetime.fromisoformat(e["received_at"]).timestamp() - written[e["path"]] for e in edits)
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
    p50, p99 = statistics.median(delays), delays[min(len(delays) - 1, int(len(delays) * 0.99))]
    print(f"\nagent bench: {args.files} files watched, {os.cpu_count()} cores, idle window {span:.0f} s\n")
    print("| measure | floyo agent | bare watchdog observer (baseline) |")
    print("|---|---|---|")
    print(f"| ready on the tree (walk + watches) | {agent_start:.1f} s | {bare_start:.1f} s |")
    print(f"| idle CPU over {span:.0f} s | {idle_a:.2f} % | {idle_b:.2f} % |")
    print(f"| RSS at the end of the idle window | {idle_rss_a / 2**20:.0f} MB | {idle_rss_b / 2**20:.0f} MB |")
    print(f"| peak RSS before the burst (start-up walk, idle, latency saves) | {pre_burst_peak / 2**20:.0f} MB | n/a |")
    print(f"| peak RSS (VmHWM: start-up walk and burst included) | {rss_a / 2**20:.0f} MB | {rss_b / 2**20:.0f} MB |")
    print(f"| burst of {args.burst} new files written in {write_s:.2f} s: captured | "
          f"{len(burst_paths)} distinct files, each once: {len(got) == len(burst_paths)} | "
          f"{bare_counts(counts_file).get('created', 0) - before.get('created', 0)} created events counted |")  # fmt: skip
    print(f"| burst: all captured by / delivered to the server at | delivered at {delivered_s:.2f} s "
          f"({args.burst / delivered_s:,.0f} events/s end to end) | counted at {bare_s:.2f} s "
          f"({args.burst / bare_s:,.0f} files/s) |")  # fmt: skip
    print(f"| inotify queue overflows (followed by rescans) | {overflows} | not detected |")
    print(f"| end-to-end delay, 200 edits at 20/s (write -> stored), p50 / p99 | {p50 * 1000:.0f} / {p99 * 1000:.0f} ms"
          " (debounce 500 ms) | n/a (no delivery) |")  # fmt: skip
    print(f"| approved workflows loaded by the agent (status) | {loaded} of {args.workflows} | n/a |")
    if latency is not None:
        for what, values in latency.items():
            p50w, worst = statistics.median(values), values[-1]
            print(f"| trigger -> action start after the debounce ({what}), {len(values)} saves, p50 / max | "
                  f"{p50w * 1000:.0f} / {worst * 1000:.0f} ms (debounce {AGENT_DEBOUNCE_S * 1000:.0f} + "
                  f"{LATENCY_DEBOUNCE_MS} ms) | n/a |")  # fmt: skip
    print(
        f"\nreproduce: .venv/bin/python -m bench.agent --files {args.files} --idle {args.idle:.0f} --burst {args.burst}"
        f" --workflows {args.workflows} --trials {args.trials}"
    )


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--bare":
        bare_observer(sys.argv[2], sys.argv[3])
    else:
        main()
