"""Rate limits shared through Redis (the real one) across workers, in process without it, and authentication
failures limited per client address before any database work."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import httpx
import pytest
import redis

from floyo.db import get_engine
from floyo.settings import Settings
from ingest.ratelimit import MemoryBuckets, RedisBuckets, TokenBucketLimiter
from tests.ingest.test_request_errors import assert_error
from tests.utils.factories import make_device
from tests.utils.server import running_server

REDIS_URL = os.environ.get("FLOYO_TEST_REDIS_URL", "redis://127.0.0.1:6379/7")  # as tests/jobs; own prefix
EVENTS = "/api/v1/events"
FORGED = {"Authorization": "Bearer floyo_not-a-real-token"}


@pytest.fixture
def prefix() -> Iterator[str]:
    """A key prefix of this test's own in the shared Redis, deleted afterwards."""
    name = f"floyo-test:{uuid.uuid4().hex}:"
    yield name
    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(f"{name}*"):
        client.delete(key)


def _allowed(limiter: TokenBucketLimiter, key: str, tries: int) -> int:
    allowed = 0
    for _ in range(tries):
        try:
            limiter.check(key)
            allowed += 1
        except Exception:
            continue
    return allowed


def test_two_workers_share_one_bucket_through_redis(prefix: str):
    workers = [TokenBucketLimiter(0.001, 5, RedisBuckets(REDIS_URL, 0.001, 5, prefix=prefix)) for _ in range(2)]
    assert _allowed(workers[0], "d1", 4) + _allowed(workers[1], "d1", 4) == 5
    assert _allowed(workers[1], "d2", 6) == 5  # keys are apart


def test_in_process_buckets_are_per_process():
    workers = [TokenBucketLimiter(0.001, 5, MemoryBuckets(0.001, 5)) for _ in range(2)]
    assert _allowed(workers[0], "d1", 6) + _allowed(workers[1], "d1", 6) == 10


def test_redis_unreachable_falls_back_to_process_limits():
    limiter = TokenBucketLimiter(0.001, 3, RedisBuckets("redis://127.0.0.1:1/0", 0.001, 3, prefix="x:"))
    assert _allowed(limiter, "d1", 5) == 3


@pytest.mark.slow
def test_the_limit_holds_across_worker_processes(database_url: str, tmp_path, engine, prefix: str):
    """`floyo serve --workers 2` with Redis: the burst is the burst of the whole server, not of each worker."""
    device = make_device(engine)
    env = {
        "FLOYO_ENV": "test", "FLOYO_DATABASE_URL": database_url, "FLOYO_DATA_DIR": str(tmp_path / "d"),
        "FLOYO_REDIS_URL": REDIS_URL, "FLOYO_RATE_LIMIT_PER_SECOND": "0.001", "FLOYO_RATE_LIMIT_BURST": "8",
    }  # fmt: skip
    with running_server(env, workers=2) as server:
        statuses = []
        for _ in range(24):  # a new connection each time: the kernel spreads them over both workers
            with httpx.Client(base_url=server.url, timeout=30) as http:
                statuses.append(http.get(EVENTS, headers=device.headers).status_code)
    assert statuses.count(200) == 8
    assert statuses.count(429) == 16


def test_auth_failures_are_limited_per_address_before_the_database(client_with):
    client = client_with(
        FLOYO_AUTH_FAILURE_BURST=3, FLOYO_AUTH_FAILURES_PER_MINUTE=0.01, FLOYO_DB_POOL_SIZE=1, FLOYO_DB_POOL_TIMEOUT=0.2
    )
    engine = client.app.state.engine
    device = make_device(engine)
    for _ in range(3):
        assert_error(client.get(EVENTS, headers=FORGED), 401, "invalid_token")
    error = assert_error(client.get(EVENTS, headers=FORGED), 429, "too_many_auth_failures")
    assert error["details"]["retry_after_seconds"] > 60
    # the address is refused whatever it sends now, without a database connection: even with the pool exhausted
    held = [engine.raw_connection() for _ in range(2)]  # the pool and its overflow
    try:
        for headers in (FORGED, device.headers, {"Authorization": "Bearer a.b.c"}, {}):
            answer = client.get(EVENTS, headers=headers)
            assert_error(answer, 429, "too_many_auth_failures")
            assert int(answer.headers["retry-after"]) > 60
    finally:
        for conn in held:
            conn.close()


def test_malformed_headers_and_bad_jwts_are_refused_without_the_database(client_with, settings: Settings):
    """They count as failures and need no connection: an exhausted pool does not turn them into 503s."""
    client = client_with(FLOYO_DB_POOL_SIZE=1, FLOYO_DB_POOL_TIMEOUT=0.2)
    engine = client.app.state.engine
    held = [engine.raw_connection() for _ in range(2)]
    try:
        assert_error(client.get(EVENTS), 401, "missing_token")
        assert_error(client.get(EVENTS, headers={"Authorization": "Basic x"}), 401, "bad_authorization")
        assert_error(client.get(EVENTS, headers={"Authorization": "Bearer a.b.c"}), 401, "invalid_token")
        # a device token needs its look-up: with no connection free that is a 503, not a 500
        assert_error(client.get(EVENTS, headers=FORGED), 503, "database_busy")
    finally:
        for conn in held:
            conn.close()
    assert_error(client.get(EVENTS, headers=FORGED), 401, "invalid_token")


def test_good_requests_do_not_spend_the_failure_allowance(client_with):
    client = client_with(FLOYO_AUTH_FAILURE_BURST=2, FLOYO_AUTH_FAILURES_PER_MINUTE=0.01)
    device = make_device(get_engine())
    for _ in range(10):
        assert client.get(EVENTS, headers=device.headers).status_code == 200
    assert_error(client.get(EVENTS, headers=FORGED), 401, "invalid_token")
    assert client.get(EVENTS, headers=device.headers).status_code == 200
