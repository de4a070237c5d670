"""The sender against the real server: per-event rejections dropped, auth failures kept, limits honoured."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime

import pytest

from agent.sender import Sender
from agent.spool import Spool
from tests.agent.helpers import server_events, wait_for
from tests.utils.server import live_server


def event(path: str, **extra):
    return {"event_id": str(uuid.uuid4()), "ts": datetime.now(UTC).isoformat(), "kind": "create",
            "root": "r", "path": path, **extra}  # fmt: skip


def drain(sender: Sender, spool: Spool, max_rounds: int = 50) -> list[float]:
    """Send until the spool is empty (or ``max_rounds`` attempts); returns the waits the sender asked for."""
    waits = []
    for _ in range(max_rounds):
        batch = spool.peek(sender.state.batch_events, sender.max_bytes)
        if not batch:
            break
        waits.append(sender.send(batch))
    return waits


@pytest.fixture
def spool(tmp_path):
    s = Spool(tmp_path / "spool.sqlite3")
    yield s
    s.close()


def test_a_bad_event_is_dropped_and_its_neighbours_stored(device, spool, caplog, shared_server):
    good = [event(f"ok{i}.txt") for i in range(5)]
    bad = event("bad.txt", kind="teleport")
    future = event("future.txt", ts="2999-01-01T00:00:00+00:00")
    spool.append([*good[:2], bad, *good[2:], future])
    url = shared_server
    sender = Sender(spool, url, device.token)
    with caplog.at_level(logging.WARNING, logger="agent.sender"):
        assert drain(sender, spool) == [0.0]
    stored = server_events(url, device.token)
    assert sorted(e["path"] for e in stored) == [f"ok{i}.txt" for i in range(5)]
    assert spool.queued() == 0
    assert spool.stats().counters["rejected"] == 2
    assert spool.stats().counters["sent"] == 5
    assert bad["event_id"] in caplog.text
    assert future["event_id"] in caplog.text


def test_resending_is_counted_as_duplicate_not_stored_twice(device, spool, shared_server):
    events = [event(f"d{i}.txt") for i in range(3)]
    url = shared_server
    sender = Sender(spool, url, device.token)
    spool.append(events)
    drain(sender, spool)
    spool.append(events)  # as after a kill -9 between the server's commit and the local delete
    drain(sender, spool)
    assert len(server_events(url, device.token)) == 3
    assert spool.stats().counters["duplicate"] == 3


def test_a_refused_token_keeps_events_queued_and_backs_off(spool, shared_server):
    spool.append([event("kept.txt")])
    url = shared_server
    sender = Sender(spool, url, "not-a-token", backoff_base=0.2, backoff_max=1.0)
    waits = drain(sender, spool, max_rounds=4)
    assert spool.queued() == 1
    assert "HTTP 401" in (sender.state.last_error or "")
    assert all(0.1 <= w <= 1.2 for w in waits)
    assert waits[-1] >= 0.5  # grew exponentially to the cap (with jitter: between cap/2 and cap)


def test_server_event_limit_and_body_limit_split_batches(env, device, spool):
    spool.append([event(f"many{i}.txt", meta={"pad": "x" * 1000}) for i in range(60)])
    small = {**env, "FLOYO_MAX_BATCH_EVENTS": "7", "FLOYO_MAX_BODY_BYTES": "20000"}
    with live_server(small) as (url, _):
        sender = Sender(spool, url, device.token, max_bytes=10**9)  # the agent does not know the limits
        drain(sender, spool, max_rounds=100)
        assert len(server_events(url, device.token)) == 60
    assert spool.queued() == 0


def test_retry_after_is_honoured(env, device, spool):
    spool.append([event("a.txt")])
    spool.append([event("b.txt")])
    limited = {**env, "FLOYO_RATE_LIMIT_PER_SECOND": "0.5", "FLOYO_RATE_LIMIT_BURST": "1"}
    with live_server(limited) as (url, _):
        sender = Sender(spool, url, device.token, max_events=1, backoff_max=5.0)
        waits = drain(sender, spool, max_rounds=2)
    assert waits[0] == 0.0
    assert "HTTP 429" in (sender.state.last_error or "")
    assert waits[1] >= 1.0  # the server asked for about 2 s


def test_spool_cap_warns_and_counts_never_silently(tmp_path, caplog):
    spool = Spool(tmp_path / "capped.sqlite3", max_events=3)
    with caplog.at_level(logging.WARNING, logger="agent.spool"):
        kept = spool.append([event(f"c{i}.txt") for i in range(5)])
    assert kept == 3
    assert spool.queued() == 3
    assert spool.stats().counters["dropped_over_cap"] == 2
    assert "NOT recorded" in caplog.text
    spool.close()
    reopened = Spool(tmp_path / "capped.sqlite3")
    assert reopened.queued() == 3  # it is durable
    reopened.close()


class FakeProxy:
    """A real HTTP server on a free port that answers every request with one fixed response (a proxy, a portal)."""

    def __init__(self, status: int, body: bytes, content_type: str) -> None:
        import http.server
        import threading

        answer = (status, body, content_type)
        self.requests = 0
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                proxy.requests += 1
                self.send_response(answer[0])
                self.send_header("Content-Type", answer[2])
                self.send_header("Content-Length", str(len(answer[1])))
                self.end_headers()
                self.wfile.write(answer[1])

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


NOT_FLOYO = [
    (400, b"<html><body><h1>400 Bad Request</h1>nginx</body></html>", "text/html"),
    (400, b'{"error": "bad request", "status": 400}', "application/json"),
    (400, b'{"error": {"code": "bad_request", "message": "no"}}', "application/json"),  # not the full format
    (415, b"Unsupported Media Type", "text/plain"),
    (422, b'{"detail": [{"msg": "field required"}]}', "application/json"),
    (413, b"<html>Request Entity Too Large</html>", "text/html"),
    (200, b"<html>Welcome to the hotel wifi</html>", "text/html"),
    (200, b'{"accepted": 1, "duplicate": 0, "rejected": 0}', "application/json"),  # does not cover the batch
]


@pytest.mark.parametrize(("status", "body", "content_type"), NOT_FLOYO)
def test_an_answer_that_is_not_floyos_keeps_every_event(spool, status, body, content_type):
    events = [event(f"kept{i}.txt") for i in range(20)]
    spool.append(events)
    with FakeProxy(status, body, content_type) as proxy:
        sender = Sender(spool, proxy.url, "token", backoff_base=0.01, backoff_max=0.05)
        waits = drain(sender, spool, max_rounds=12)
    assert proxy.requests == 12  # it kept trying, with the whole queue
    assert spool.queued() == 20
    assert spool.stats().counters["rejected"] == 0
    assert all(w > 0 for w in waits)  # it backed off every time
    assert f"HTTP {status}" in (sender.state.last_error or "")


def test_a_floyo_error_about_the_batch_drops_only_the_event_left_alone(spool):
    refused = b'{"error": {"code": "invalid_body", "message": "not an event", "details": null}}'
    spool.append([event(f"{name}.txt") for name in "abcd"])
    with FakeProxy(422, refused, "application/json") as proxy:
        sender = Sender(spool, proxy.url, "token", backoff_base=0.01, backoff_max=0.05)
        drain(sender, spool, max_rounds=3)
    # 4 events, then 2, then 1 alone refused in Floyo's own format: that one event is dropped
    assert proxy.requests == 3
    assert spool.queued() == 3
    assert spool.stats().counters["rejected"] == 1
    with FakeProxy(415, b'{"error": {"code": "unsupported_media_type", "message": "json", "details": null}}',
                   "application/json") as proxy:  # fmt: skip
        sender = Sender(spool, proxy.url, "token", backoff_base=0.01, backoff_max=0.05)
        drain(sender, spool, max_rounds=4)
    assert spool.queued() == 3  # about the request, not the events: kept


def test_the_agent_behind_a_proxy_answering_400_keeps_every_event(env, tmp_path, agents, agent_config):
    root = tmp_path / "work"
    root.mkdir()
    html = b"<html><body>400 Bad Request</body></html>"
    with FakeProxy(400, html, "text/html") as proxy:
        agent = agents({**env, "FLOYO_AGENT_TOKEN": "floyo_x"}, tmp_path / "state", [str(root)],
                       "--server", proxy.url, "--config", str(agent_config))  # fmt: skip
        for i in range(30):
            (root / f"f{i}.txt").write_text("x")
        wait_for(lambda: agent.status().get("queued") == 30 and proxy.requests >= 3,
                 what="the events queued and sent several times")  # fmt: skip
        assert "HTTP 400 that is not Floyo's answer" in agent.status()["last_error"]
        assert agent.stop() == 0
    spool = Spool(tmp_path / "state" / "spool.sqlite3")
    assert spool.queued() == 30
    assert spool.stats().counters["rejected"] == 0
    spool.close()
