"""`floyo demo`: Floyo running on this machine with the sample log ingested through the API, and a summary."""

from __future__ import annotations

import sys
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text

from floyo.background import alive, recorded_pid, start_detached, stop_recorded
from floyo.errors import Conflict, Unavailable
from floyo.settings import Settings, get_settings

DEMO_DEVICE = "git"
DASHBOARD_DEVICE = "dashboard"
READY_TIMEOUT_S = 90.0


@dataclass
class IngestTotals:
    """What the API answered for the demo's batches."""

    requests: int = 0
    accepted: int = 0
    duplicate: int = 0
    rejected: int = 0
    reasons: list[str] = field(default_factory=list)

    def add(self, answer: dict[str, Any]) -> None:
        self.requests += 1
        self.accepted += answer["accepted"]
        self.duplicate += answer["duplicate"]
        self.rejected += answer["rejected"]
        self.reasons += [r["reason"] for r in answer["rejections"]]


def _pid_file(settings: Settings) -> Path:
    return settings.data_dir / "api.pid"


def _ready(base_url: str) -> bool:
    try:
        return httpx.get(f"{base_url}/health/readiness", timeout=2.0).status_code == 200
    except httpx.TransportError:
        return False


def start_api_in_background(settings: Settings, port: int) -> tuple[str, int, Path]:
    """Start `floyo serve` detached (or reuse the one this data dir started); wait until it is ready."""
    base_url = f"http://{settings.host}:{port}"
    pid_file = _pid_file(settings)
    pid = recorded_pid(pid_file)
    if pid is not None and alive(pid) and _ready(base_url):
        return base_url, pid, settings.data_dir / "api.log"
    if _ready(base_url):
        raise Conflict("port_in_use", f"another server already answers on {base_url}; pass --port")
    log_path = settings.data_dir / "api.log"
    pid = start_detached(
        [sys.executable, "-m", "floyo", "serve", "--host", settings.host, "--port", str(port)],
        log_path=log_path, pid_path=pid_file, ready=lambda: _ready(base_url), timeout_s=READY_TIMEOUT_S,
        failed=("api_failed", "the API did not start"),
    )  # fmt: skip
    return base_url, pid, log_path


def _tokens_per_author(authors: list[str]) -> dict[str, str]:
    from floyo.auth import create_device_token
    from floyo.db import get_engine

    with get_engine().begin() as conn:
        return {a: create_device_token(conn, user=a, device=DEMO_DEVICE) for a in authors}


def ingest_log_through_api(base_url: str, log_path: Path, *, batch_size: int = 1000) -> IngestTotals:
    """Send every row of a CSV log to the API, one device token per author, in batches."""
    from floyo.events import now_utc
    from ingest.csvlog import read_log

    by_author: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in read_log(log_path, root=log_path.name.split(".")[0]):
        by_author[row.author].append(row.event)
    tokens = _tokens_per_author(sorted(by_author))
    jobs = [
        (tokens[author], events[i : i + batch_size])
        for author, events in by_author.items()
        for i in range(0, len(events), batch_size)
    ]
    totals = IngestTotals()
    with httpx.Client(base_url=base_url, timeout=60.0) as client:

        def send(job: tuple[str, list[dict[str, Any]]]) -> dict[str, Any]:
            token, events = job
            body = {"sent_at": now_utc().isoformat(), "events": events}
            answer = client.post("/api/v1/telemetry", json=body, headers={"Authorization": f"Bearer {token}"})
            answer.raise_for_status()
            result: dict[str, Any] = answer.json()
            return result

        with ThreadPoolExecutor(max_workers=4) as pool:
            for answer in pool.map(send, jobs):
                totals.add(answer)
    return totals


def database_summary() -> dict[str, Any]:
    """Users, events and per-kind counts in the database."""
    from floyo.db import get_engine

    with get_engine().connect() as conn:
        users = int(conn.execute(text("SELECT count(*) FROM users")).scalar_one())
        rows = conn.execute(text("SELECT kind::text, count(*) FROM events GROUP BY 1 ORDER BY 2 DESC")).all()
    kinds: dict[str, int] = {str(kind): int(count) for kind, count in rows}
    return {"users": users, "events": sum(kinds.values()), "kinds": kinds}


def store_personas(settings: Settings, *, personas: int, days: int, seed: int = 0) -> str:
    """Synthetic personas with planted workflows, stored through the ingest path; one line to print."""
    from features.synth import generate
    from floyo.db import get_engine
    from floyo.demo_data import store, truth_file

    data = generate(personas=personas, days=days, seed=seed)
    truth = truth_file(settings, seed=seed, personas=personas, days=days)
    return store(data, get_engine(), settings, truth).describe()


def export_and_build_lines(settings: Settings) -> list[str]:
    """Export to the lake and build the feature tables; lines to print."""
    from jobs.refresh import export_and_build

    # the sample log spans 2010-2026: even a configured retention must not delete most of the demo's data
    summary = export_and_build(settings, retention=False)
    rows = ", ".join(f"{table} {count}" for table, count in summary["features"]["rows"].items())
    exported = summary["export"]
    return [
        f"lake: {summary['lake']} ({exported.get('exported', 0)} events exported this run)",
        f"features built in {summary['features']['seconds']:.1f} s: {rows}",
    ]


def train_lines(settings: Settings, *, top: int = 5) -> list[str]:
    """Train every model family on the lake (``floyo train``) and show the strongest repeated workflows found."""
    from models.lakedata import train_from_lake
    from models.patterns import champion_workflows, describe_workflow

    started = time.perf_counter()
    results = train_from_lake(settings)
    trained = ", ".join(
        f"{r['name']} v{r['version']} (MRR {r['mrr']:.3f}{', champion' if r['promoted'] else ''})" for r in results
    )
    found = sorted(champion_workflows(), key=lambda w: (-len(w["steps"]), -w["support"]))[:top]
    return [
        f"trained in {time.perf_counter() - started:.0f} s: {trained}",
        f"repeated workflows found ({top} of the longest, most frequent; `floyo patterns workflows --user NAME`):",
        *(f"  {describe_workflow(w)}" for w in found),
    ]


def best_suggestion_lines(*, users: int = 4) -> list[str]:
    """The best suggestion of a few users, as the refresh wrote them."""
    from floyo.db import get_engine

    best = text(
        "SELECT DISTINCT ON (u.name) u.name, s.title, (s.body->'savings'->>'minutes_per_week')::float "
        "FROM suggestions s JOIN users u ON u.id = s.user_id WHERE s.active ORDER BY u.name, s.score DESC"
    )
    with get_engine().connect() as conn:
        rows = conn.execute(best).fetchall()[:users]
    if not rows:
        return []
    return [
        f"best suggestion of {len(rows)} users (`floyo suggestions list --user NAME`):",
        *(f"  {name}: {title} (about {minutes:.1f} min a week)" for name, title, minutes in rows),
    ]


def run_demo(
    *, port: int | None = None, log_path: Path | None = None, personas: int = 20, days: int = 30, train: bool = True
) -> None:
    """Start everything, ingest the sample log through the API and synthetic personas, build the lake, train the
    models, summarise."""
    from floyo.db import migrate, resolve_database_url

    settings = get_settings()
    port = port or settings.port
    if log_path is None:
        from ingest.csvlog import sample_log

        log_path = sample_log()
    _say(f"database: {'external' if settings.database_url else f'embedded PostgreSQL in {settings.embedded_pg_dir}'}")
    migrate.upgrade(resolve_database_url(settings))
    base_url, pid, api_log = start_api_in_background(settings, port)
    _say(f"API: {base_url} (pid {pid}, log {api_log})")
    started = time.perf_counter()
    totals = ingest_log_through_api(base_url, log_path)
    elapsed = time.perf_counter() - started
    _say(
        f"ingested {log_path.name} through the API in {elapsed:.1f} s: {totals.accepted} accepted, "
        f"{totals.duplicate} duplicate (already stored), {totals.rejected} rejected, {totals.requests} requests"
    )
    for reason, count in Counter(totals.reasons).most_common(5):
        _say(f"  rejected ({count}): {reason}")
    if personas:
        _say(store_personas(settings, personas=personas, days=days))
    for line in export_and_build_lines(settings):
        _say(line)
    if train:
        for line in train_lines(settings):
            _say(line)
        _say(refresh_patterns_line(settings))
    _say(refresh_suggestions_line(settings))
    for line in best_suggestion_lines():
        _say(line)
    dashboard_url, user = start_dashboard(settings, base_url)
    for line in _summary_lines(settings, base_url):
        _say(line)
    _say(f"  dashboard: {dashboard_url} (signed in as {user}; `floyo dashboard` runs it in the foreground)")


def refresh_patterns_line(settings: Settings) -> str:
    """Write what the champions found into PostgreSQL for `floyo patterns` and the dashboard (as the job does)."""
    from floyo.db import get_engine
    from models.pattern_store import refresh_patterns

    counts = refresh_patterns(get_engine(), settings)
    return (
        f"patterns: {counts['rules']} rules and {counts['workflows']} workflows for the dashboard and `floyo patterns`"
    )


def refresh_suggestions_line(settings: Settings) -> str:
    """Build every user's suggestions from the lake (what the pipeline job does); one line to print."""
    from floyo.db import get_engine
    from serving.refresh import lake_events, refresh_suggestions

    summary = refresh_suggestions(get_engine(), lake_events(settings))
    return f"suggestions: {summary.suggestions} for {summary.users} users in {summary.seconds:.1f} s"


def demo_user() -> str:
    """The user the dashboard shows: the one with the most suggestions waiting, else the most events."""
    from floyo.db import get_engine

    with get_engine().connect() as conn:
        name = conn.execute(
            text(
                "SELECT u.name FROM users u LEFT JOIN suggestions s ON s.user_id = u.id AND s.state = 'new' "
                "GROUP BY u.id, u.name ORDER BY count(s.id) DESC, u.id LIMIT 1"
            )
        ).scalar_one_or_none()
    if name is None:
        raise Unavailable("no_users", "the demo stored no users")
    return str(name)


def start_dashboard(settings: Settings, base_url: str) -> tuple[str, str]:
    """Start the dashboard in the background, signed in with a device token of the demo user; (its URL, user)."""
    from floyo import dashboard
    from floyo.auth import create_device_token
    from floyo.db import get_engine

    user = demo_user()
    with get_engine().begin() as conn:
        token = create_device_token(conn, user=user, device=DASHBOARD_DEVICE)
    url, _, _ = dashboard.start_in_background(settings, settings.dashboard_port, base_url, token)
    return url, user


def _summary_lines(settings: Settings, base_url: str) -> list[str]:
    db = database_summary()
    kinds = ", ".join(f"{kind} {count}" for kind, count in db["kinds"].items())
    return [
        "",
        "Floyo is running.",
        f"  users:     {db['users']}",
        f"  events:    {db['events']} ({kinds})",
        f"  data:      {settings.data_dir}",
        f"  API docs:  {base_url}/docs   health: {base_url}/health/readiness   metrics: {base_url}/metrics",
        f"  stop with: {_stop_command()}",
    ]


def stop_all() -> list[str]:
    """Stop the background dashboard and API of this data dir and the embedded PostgreSQL; what was done, line by
    line."""
    from floyo import dashboard
    from floyo.db.embedded import stop_embedded

    settings = get_settings()
    lines = []
    dashboard_stopped = dashboard.stop(settings)
    if dashboard_stopped:
        lines.append(dashboard_stopped)
    stopped_api = stop_recorded(_pid_file(settings), grace_s=30)  # in-flight requests are finished first
    if stopped_api is None:
        lines.append("no background API recorded in this data dir")
    elif stopped_api[1]:
        lines.append(f"API (pid {stopped_api[0]}) stopped")
    if not settings.database_url:
        stopped = stop_embedded(settings.embedded_pg_dir)
        lines.append("embedded PostgreSQL stopped" if stopped else "embedded PostgreSQL was not running")
    return lines


def _say(line: str) -> None:
    print(line, flush=True)


def _stop_command() -> str:
    """``floyo stop`` as this process was called: a checkout's ``.venv/bin/floyo``, or ``floyo`` on the PATH."""
    called = Path(sys.argv[0])
    return f"{called} stop" if called.name == "floyo" else "floyo stop"
