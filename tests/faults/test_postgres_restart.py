"""PostgreSQL stopped and started again (same data dir, same socket) under sustained ingest from real agents."""

from __future__ import annotations

import collections
import threading
from functools import partial
from pathlib import Path

import httpx
import orjson
import pytest
from sqlalchemy import text

from tests.agent.helpers import AgentProcess, settle, wait_for, write_config
from tests.faults.conftest import Cluster
from tests.utils.factories import make_batch, make_device, make_event
from tests.utils.server import running_server

AGENTS = 2


def _drained(agent: AgentProcess) -> bool:
    return bool(agent.status().get("queued") == 0)


def _stored(cluster: Cluster, user_id: int) -> list[tuple[str, str, str]]:
    with cluster.engine.connect() as conn:
        rows = conn.execute(text("SELECT event_id::text, kind, path FROM events WHERE user_id = :u"), {"u": user_id})
        return [(r[0], r[1], r[2]) for r in rows]


@pytest.mark.slow
def test_postgres_restart_under_agent_ingest_loses_and_duplicates_nothing(cluster: Cluster, tmp_path: Path) -> None:
    env = {"FLOYO_ENV": "test", "FLOYO_DATABASE_URL": cluster.url, "FLOYO_DATA_DIR": str(tmp_path / "data"),
           "FLOYO_LOG_FORMAT": "json"}  # fmt: skip
    devices = [make_device(cluster.engine) for _ in range(AGENTS)]
    roots = [tmp_path / f"root{i}" for i in range(AGENTS)]
    config = write_config(tmp_path / "agent.toml", backoff_max_seconds=0.5, debounce_seconds=0.2)
    created: list[list[str]] = [[] for _ in range(AGENTS)]
    writing = threading.Event()
    agents: list[AgentProcess] = []

    def write_files() -> None:
        """A person (two, one per agent) saving a new file every few milliseconds, until told to stop."""
        n = 0
        while not writing.wait(0.005):
            for i, root in enumerate(roots):
                name = f"f{n:05}.txt"
                (root / name).write_text(str(n))
                created[i].append(name)
            n += 1

    with running_server(env) as server:
        try:
            for device, root, i in zip(devices, roots, range(AGENTS), strict=True):
                root.mkdir()
                agent = AgentProcess(env, tmp_path / f"state{i}", [str(root)], "--server", server.url,
                                     "--token", device.token, "--config", str(config))  # fmt: skip
                agents.append(agent)
                agent.start()
            writer = threading.Thread(target=write_files)
            writer.start()
            try:
                wait_for(lambda: all(len(_stored(cluster, d.user_id)) > 50 for d in devices), timeout=30,
                         what="ingest to flow")  # fmt: skip
                cluster.stop()
                # while PostgreSQL is down: every answer that needs it is a 503 with Retry-After, never a 500
                with httpx.Client(base_url=server.url, timeout=10) as http:
                    for _ in range(5):
                        read = http.get("/api/v1/events?limit=1", headers=devices[0].headers)
                        write = http.post("/api/v1/telemetry", json=make_batch([make_event()]),
                                          headers=devices[0].headers)  # fmt: skip
                        for answer in (read, write):
                            assert answer.status_code == 503, answer.text
                            assert answer.json()["error"]["code"] == "database_unavailable"
                            assert "retry-after" in answer.headers
                    wait_for(lambda: all("503" in str(a.status().get("last_error")) for a in agents),
                             timeout=20, what="every agent to report the outage")  # fmt: skip
                    queued_during = [a.status()["queued"] for a in agents]
                    cluster.start()
                    # the same server process recovers on its own: no restart
                    wait_for(lambda: http.get("/api/v1/events?limit=1", headers=devices[0].headers).status_code
                             == 200, timeout=20, what="the API to answer again")  # fmt: skip
                    assert server.proc.poll() is None
            finally:
                writing.set()
                writer.join()
            for device, root, agent in zip(devices, roots, agents, strict=True):
                settle(server.url, device.token, root, timeout=60)
                wait_for(partial(_drained, agent), what="an empty spool")
                assert agent.stop() == 0
            statuses = [orjson.loads(server_line) for server_line in server.log_lines()]
        finally:
            for agent in agents:
                agent.close()
    assert all(q > 0 for q in queued_during)  # the agents really held events back during the outage
    access = [line for line in statuses if line.get("logger") == "floyo.access"]
    bad = [line for line in access if line.get("status") not in (200, 503)]
    assert not bad, orjson.dumps(bad).decode()  # no 500, no unhandled error
    assert any(line["status"] == 503 for line in access)
    errors = {(line["logger"], line["message"]) for line in statuses if line.get("level") in ("ERROR", "CRITICAL")}
    # the outage is logged as such (OperationalError or its AdminShutdown), and SQLAlchemy's pool reports the dead
    # connections it discards; nothing else
    outage = {e for e in errors if e[0] == "ingest.app" and e[1].startswith("database unavailable: ")}
    discarded = {e for e in errors if e == ("sqlalchemy.pool.impl.QueuePool", "Exception during reset or similar")}
    assert outage
    assert errors == outage | discarded, sorted(errors)
    for device, agent, names in zip(devices, agents, created, strict=True):
        rows = _stored(cluster, device.user_id)
        assert len({r[0] for r in rows}) == len(rows)  # no event stored twice
        creates = collections.Counter(p for _, k, p in rows if k == "create" and "sentinel-" not in p)
        assert creates == collections.Counter(names), "every file created exactly once"
        counters = agent.status()["counters"]
        assert counters["captured"] == len(rows)  # stored = sent: every event the agent captured, once
        assert counters["rejected"] == 0
        assert counters["sent"] + counters["duplicate"] >= len(rows)
