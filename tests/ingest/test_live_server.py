"""HTTP behaviour against a real uvicorn server (`floyo serve` in a subprocess): size limits, concurrency, logs."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.client import HTTPConnection
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import text

from tests.utils.factories import count_events, make_batch, make_event, stored_events
from tests.utils.server import LiveServer, running_server, stop

LIMIT = 64 * 1024
URL = "/api/v1/telemetry"


@pytest.fixture(scope="module")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One server for this module, with a 64 KiB body limit."""
    env = {
        "FLOYO_ENV": "test",
        "FLOYO_DATABASE_URL": database_url,
        "FLOYO_DATA_DIR": str(tmp_path_factory.mktemp("server-data")),
        "FLOYO_LOG_FORMAT": "json",
        "FLOYO_MAX_BODY_BYTES": str(LIMIT),
    }
    with running_server(env) as running:
        yield running


def _json_headers(device) -> dict[str, str]:
    return {**device.headers, "Content-Type": "application/json"}


def _big_body() -> bytes:
    body = orjson.dumps(make_batch([make_event(path=f"dir/{i:05}.txt") for i in range(1500)]))
    assert len(body) > 2 * LIMIT
    return body


def _assert_too_large(answer: httpx.Response) -> None:
    assert answer.status_code == 413, answer.text
    assert answer.json()["error"]["code"] == "body_too_large"
    assert answer.json()["error"]["details"] == {"limit_bytes": LIMIT}


def test_a_content_length_over_the_limit_is_refused(server: LiveServer, device, engine):
    answer = httpx.post(server.url + URL, content=_big_body(), headers=_json_headers(device), timeout=10)
    _assert_too_large(answer)
    assert stored_events(engine, device.user_id) == []


def test_a_chunked_body_over_the_limit_is_refused(server: LiveServer, device, engine):
    body = _big_body()
    sent = []

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), 4096):
            sent.append(start)
            yield body[start : start + 4096]

    with httpx.Client(timeout=10) as http:
        answer = http.post(server.url + URL, content=chunks(), headers=_json_headers(device))
    assert answer.request.headers.get("transfer-encoding") == "chunked"
    assert "content-length" not in answer.request.headers
    _assert_too_large(answer)
    assert stored_events(engine, device.user_id) == []
    # the server is still well, and a chunked body within the limit is accepted
    small = orjson.dumps(make_batch([make_event()]))
    ok = httpx.post(server.url + URL, content=iter([small[:10], small[10:]]), headers=_json_headers(device), timeout=10)
    assert ok.status_code == 200, ok.text
    assert ok.json()["accepted"] == 1


def test_concurrent_resends_store_each_event_once(server: LiveServer, device, engine):
    _resend_concurrently(server, device, engine)


@pytest.mark.slow  # two worker processes take several seconds to start on a busy 2-core machine
def test_concurrent_resends_across_worker_processes_store_each_event_once(database_url, tmp_path, device, engine):
    env = {"FLOYO_ENV": "test", "FLOYO_DATABASE_URL": database_url, "FLOYO_DATA_DIR": str(tmp_path)}
    with running_server(env, workers=2) as two_workers:
        _resend_concurrently(two_workers, device, engine)


def _resend_concurrently(server: LiveServer, device, engine) -> None:
    """Several clients post the same batch at the same moment, a few times over.

    Half of each batch falls in a month picked at random from 2001-2009, most likely without a partition yet,
    so that the clients also race to create it.
    """
    threads, rounds = 8, 3
    for _ in range(rounds):
        month = f"{random.randint(2001, 2009)}-{random.randint(1, 12):02}-15T12:00:00+00:00"
        events = [make_event(path=f"c/{i}.py", **({"ts": month} if i % 2 else {})) for i in range(200)]
        body = orjson.dumps(make_batch(events))
        barrier = threading.Barrier(threads)

        def send(_: int, body: bytes = body, barrier: threading.Barrier = barrier) -> dict[str, Any]:
            with httpx.Client(timeout=30) as http:
                barrier.wait()
                answer = http.post(server.url + URL, content=body, headers=_json_headers(device))
            assert answer.status_code == 200, answer.text
            result: dict[str, Any] = answer.json()
            return result

        with ThreadPoolExecutor(threads) as pool:
            answers = list(pool.map(send, range(threads)))
        assert sum(a["accepted"] for a in answers) == len(events)
        assert all(a["accepted"] + a["duplicate"] == len(events) and a["rejected"] == 0 for a in answers)
        assert count_events(engine, [e["event_id"] for e in events]) == len(events)
    assert len(stored_events(engine, device.user_id)) == rounds * 200


def test_server_log_lines_are_json_with_the_request_id_and_shutdown_is_clean(database_url, tmp_path, device):
    env = {
        "FLOYO_ENV": "test",
        "FLOYO_DATABASE_URL": database_url,
        "FLOYO_DATA_DIR": str(tmp_path),
        "FLOYO_LOG_FORMAT": "json",
    }
    rid = "live-req-42"
    with running_server(env) as own:
        answer = httpx.post(
            own.url + URL, json=make_batch([make_event()]), headers={**device.headers, "X-Request-ID": rid}, timeout=10
        )
        assert answer.headers["x-request-id"] == rid
        # SIGTERM: a graceful shutdown (uvicorn re-raises the signal once done, hence -15)
        assert stop(own.proc) in (0, -15)
        lines = [orjson.loads(line) for line in own.log_lines()]
    mine = [line for line in lines if line.get("request_id") == rid]
    assert len(mine) == 1
    assert (mine[0]["logger"], mine[0]["status"], mine[0]["route"]) == ("floyo.access", 200, URL)
    access = [line for line in lines if line["logger"] == "floyo.access"]
    assert all(line["request_id"] for line in access)
    assert any(line["message"] == "floyo api stopped" for line in lines)
    assert not any(line["level"] in ("ERROR", "CRITICAL") for line in lines)
    assert device.token not in "\n".join(map(str, lines))


def _wait_for(condition, timeout: float = 20.0) -> None:
    """Poll an observable condition (never a fixed sleep) until it holds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition never held"
        time.sleep(0.02)


def test_sigterm_finishes_the_request_in_flight(database_url, tmp_path, device, engine):
    """Graceful shutdown: a request whose body is still arriving at SIGTERM is answered and committed."""
    env = {"FLOYO_ENV": "test", "FLOYO_DATABASE_URL": database_url, "FLOYO_DATA_DIR": str(tmp_path)}
    with engine.begin() as conn:
        conn.execute(text("UPDATE devices SET last_used_at = NULL WHERE id = :d"), {"d": device.device_id})

    def authenticated() -> bool:
        with engine.connect() as conn:
            return (
                conn.execute(text("SELECT last_used_at FROM devices WHERE id = :d"), {"d": device.device_id}).scalar()
                is not None
            )

    event = make_event()
    body = orjson.dumps(make_batch([event]))
    with running_server(env) as own:
        http = HTTPConnection("127.0.0.1", int(own.url.rsplit(":", 1)[1]), timeout=30)
        http.putrequest("POST", URL)
        for name, value in {**_json_headers(device), "Content-Length": str(len(body))}.items():
            http.putheader(name, value)
        http.endheaders(message_body=body[:20])
        # the server has parsed the request and authenticated it (it stamps last_used_at): it is in flight
        _wait_for(authenticated)
        own.proc.terminate()
        http.send(body[20:])
        answer = http.getresponse()
        assert answer.status == 200
        assert orjson.loads(answer.read())["accepted"] == 1
        assert own.proc.wait(timeout=30) in (0, -15)
    assert [str(r["event_id"]) for r in stored_events(engine, device.user_id)] == [event["event_id"]]


def _counted(metrics: str, route: str) -> float:
    """The requests to ``route`` answered 200, as one scrape of /metrics reports them."""
    total = 0.0
    for line in metrics.splitlines():
        if line.startswith("floyo_http_requests_total{") and f'route="{route}"' in line and 'status="200"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


@pytest.mark.slow
def test_metrics_add_up_every_worker(database_url, tmp_path, device):
    """With two workers each scrape reports the whole server's requests, not one worker's (multiprocess mode)."""
    env = {"FLOYO_ENV": "test", "FLOYO_DATABASE_URL": database_url, "FLOYO_DATA_DIR": str(tmp_path / "d")}
    with running_server(env, workers=2) as server:
        for _ in range(30):  # a new connection each time: both workers answer some
            with httpx.Client(base_url=server.url, timeout=30) as http:
                assert http.get("/api/v1/events?limit=1", headers=device.headers).status_code == 200
        scrapes = []
        for _ in range(6):
            with httpx.Client(base_url=server.url, timeout=30) as http:
                scrapes.append(_counted(http.get("/metrics").text, "/api/v1/events"))
        files = list((tmp_path / "d" / "metrics").glob("*/*.db"))
    assert scrapes == [30.0] * 6
    assert files  # the workers' metric files, in this server's own directory
    assert not (tmp_path / "d" / "metrics").exists() or not list((tmp_path / "d" / "metrics").glob("*/*.db"))


@pytest.mark.slow
def test_an_api_killed_mid_batch_loses_and_duplicates_nothing_after_the_resend(database_url, tmp_path, device, engine):
    """kill -9 while batches are in flight, a new server, everything unacknowledged sent again (as the agent
    does): every event is stored exactly once."""
    import os
    import signal

    env = {"FLOYO_ENV": "test", "FLOYO_DATABASE_URL": database_url, "FLOYO_DATA_DIR": str(tmp_path / "d")}
    batches = [orjson.dumps(make_batch([make_event(path=f"k/{b}/{i}.txt") for i in range(2000)])) for b in range(12)]
    acknowledged: list[int] = []
    with running_server(env) as server:

        def send_all() -> None:
            with httpx.Client(base_url=server.url, timeout=30) as http:
                for index, body in enumerate(batches):
                    try:
                        answer = http.post(URL, content=body, headers=_json_headers(device))
                    except httpx.TransportError:
                        return
                    if answer.status_code == 200:
                        acknowledged.append(index)

        sender = threading.Thread(target=send_all)
        sender.start()
        _wait_for(lambda: len(acknowledged) >= 3)
        os.kill(server.proc.pid, signal.SIGKILL)  # mid-stream: some batch is being read, validated or stored
        sender.join(timeout=60)
    assert 3 <= len(acknowledged) < len(batches)
    with running_server(env) as server, httpx.Client(base_url=server.url, timeout=60) as http:
        for index, body in enumerate(batches):
            if index not in acknowledged:
                answer = http.post(URL, content=body, headers=_json_headers(device))
                assert answer.status_code == 200, answer.text
    sent = [e["event_id"] for body in batches for e in orjson.loads(body)["events"]]
    rows = stored_events(engine, device.user_id)
    assert len(rows) == len(sent)
    assert sorted(str(r["event_id"]) for r in rows) == sorted(sent)
