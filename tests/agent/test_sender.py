"""The sender against the real server: per-event rejections dropped, auth failures kept, limits honoured."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime

import pytest

from agent.sender import Sender
from agent.spool import Spool
from tests.agent.helpers import server_events
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
