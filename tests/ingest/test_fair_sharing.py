"""One user cannot stall everyone: aborted exports give their connection back, a busy pool is a 503."""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import httpx
import orjson
import psycopg
import pytest
from sqlalchemy import create_engine

from floyo.db.engine import psycopg_conninfo
from tests.utils.factories import Device, make_batch, make_device, make_event
from tests.utils.server import LiveServer, running_server

POOL = 2  # per process, and as many overflow: 4 connections in all
EVENTS = 40_000  # an export far larger than the socket buffers: the server is mid-stream when the client goes


@pytest.fixture(scope="module")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    env = {
        "FLOYO_ENV": "test",
        "FLOYO_DATABASE_URL": database_url,
        "FLOYO_DATA_DIR": str(tmp_path_factory.mktemp("fair-data")),
        "FLOYO_LOG_FORMAT": "json",
        "FLOYO_DB_POOL_SIZE": str(POOL),
        "FLOYO_DB_POOL_TIMEOUT": "2",
        "FLOYO_RATE_LIMIT_BURST": "10000",
    }
    with running_server(env) as running:
        yield running


@pytest.fixture(scope="module")
def heavy(server: LiveServer, database_url: str) -> Device:
    """A user with many events (sent once per module)."""
    engine = create_engine(database_url)
    try:
        device = make_device(engine)
    finally:
        engine.dispose()
    base = datetime.now(UTC) - timedelta(days=2)
    with httpx.Client(base_url=server.url, headers=device.headers, timeout=60) as http:
        for start in range(0, EVENTS, 5000):
            events = [
                make_event(ts=(base + timedelta(seconds=i)).isoformat(), path=f"some/longish/folder/{i}.csv")
                for i in range(start, start + 5000)
            ]
            assert http.post("/api/v1/telemetry", content=orjson.dumps(make_batch(events)),
                             headers={"content-type": "application/json"}).json()["accepted"] == 5000  # fmt: skip
    return device


def _open_download(server: LiveServer, device: Device) -> tuple[socket.socket, bytes]:
    """Start an export and read its first bytes (the status line at least); the socket stays open."""
    host, port = server.url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=20)
    request = (
        f"GET /api/v1/events/export?format=csv HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {device.token}\r\n\r\n"
    )
    sock.sendall(request.encode())
    return sock, sock.recv(4096)


def _reset(sock: socket.socket) -> None:
    """Drop the connection the way a killed client does: a reset, no orderly close."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def _busy_connections(database_url: str) -> int:
    """Connections of this database in a transaction (idle in it or running), other than ours."""
    with psycopg.connect(**psycopg_conninfo(database_url), autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND state IN ('idle in transaction', 'active') AND pid <> pg_backend_pid()"
        ).fetchone()
        return int(row[0]) if row else 0


def _eventually(condition: Callable[[], bool], timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _exports_finished(server: LiveServer) -> int:
    """Exports the server has finished with (logged after the request's connection and export slot went back)."""
    return sum('"route":"/api/v1/events/export"' in line for line in server.log_lines())


def _all_finished(server: LiveServer, count: int) -> bool:
    """Whether the server has finished ``count`` exports (waits a while)."""
    return _eventually(lambda: _exports_finished(server) == count)


def _small_read(server: LiveServer, device: Device) -> float:
    started = time.monotonic()
    answer = httpx.get(f"{server.url}/api/v1/events?limit=1", headers=device.headers, timeout=60)
    elapsed = time.monotonic() - started
    assert answer.status_code == 200, answer.text
    assert len(answer.json()["events"]) == 1
    return elapsed


@pytest.mark.slow
def test_aborted_exports_give_their_connections_back(server: LiveServer, heavy: Device, database_url: str):
    done = _exports_finished(server)
    for _ in range(40):  # one after another: each is mid-stream when its client goes
        sock, first = _open_download(server, heavy)
        assert first.startswith(b"HTTP/1.1 200")
        _reset(sock)
        done += 1
        assert _all_finished(server, done), "an aborted export never ended"
    for _ in range(4):  # and in bursts: two stream (the bound per user), the rest are refused at once
        opened = [_open_download(server, heavy) for _ in range(10)]
        statuses = [first.split(b" ", 2)[1] for _, first in opened]
        assert sorted(statuses) == [b"200"] * 2 + [b"429"] * 8
        for sock, _ in opened:
            _reset(sock)
        done += 10
        assert _all_finished(server, done), "an aborted export never ended"
    elapsed = _small_read(server, heavy)
    assert elapsed < 5, f"a small read took {elapsed:.1f} s after aborted exports"
    assert _eventually(lambda: _busy_connections(database_url) == 0), "a connection stayed in a transaction"
    # every export slot came back: a whole export still downloads
    whole = httpx.get(f"{server.url}/api/v1/events/export?format=csv", headers=heavy.headers, timeout=120)
    assert whole.status_code == 200
    assert whole.text.count("\n") == EVENTS + 1


@pytest.mark.slow
def test_exports_are_bounded_per_user(server: LiveServer, heavy: Device, database_url: str):
    done = _exports_finished(server)
    first, second = _open_download(server, heavy), _open_download(server, heavy)
    try:
        assert first[1].startswith(b"HTTP/1.1 200")
        assert second[1].startswith(b"HTTP/1.1 200")
        third = httpx.get(f"{server.url}/api/v1/events/export", headers=heavy.headers, timeout=30)
        assert third.status_code == 429
        assert third.json()["error"]["code"] == "too_many_exports"
        assert int(third.headers["retry-after"]) >= 1
        assert _small_read(server, heavy) < 5  # the same user's other requests still flow
    finally:
        _reset(first[0])
        _reset(second[0])
    assert _eventually(lambda: _exports_finished(server) == done + 3)

    assert _eventually(lambda: _busy_connections(database_url) == 0), "an aborted export kept its connection"
    with httpx.stream("GET", f"{server.url}/api/v1/events/export", headers=heavy.headers, timeout=30) as answer:
        assert answer.status_code == 200  # the slots came back


def test_a_pool_time_out_is_a_503_with_retry_after(env, monkeypatch: pytest.MonkeyPatch):
    """Every connection busy: the caller is told to come back (503, Retry-After), never a 500."""
    from fastapi.testclient import TestClient

    from floyo.db import get_engine, reset_engine
    from floyo.settings import get_settings
    from ingest.app import create_app

    monkeypatch.setenv("FLOYO_DB_POOL_SIZE", "1")  # and one overflow: two connections
    monkeypatch.setenv("FLOYO_DB_POOL_TIMEOUT", "0.2")
    get_settings.cache_clear()
    reset_engine()
    try:
        device = make_device(get_engine())
        with TestClient(create_app(get_settings()), raise_server_exceptions=False) as client:
            held = [get_engine().raw_connection() for _ in range(2)]
            try:
                answer = client.get("/api/v1/events", headers=device.headers)
            finally:
                for conn in held:
                    conn.close()
            assert answer.status_code == 503, answer.text
            assert answer.json()["error"]["code"] == "database_busy"
            assert answer.headers["retry-after"] == "2"
            assert client.get("/api/v1/events", headers=device.headers).status_code == 200
    finally:
        reset_engine()
        get_settings.cache_clear()
