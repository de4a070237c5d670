"""Per-user answers are cached (Redis or in process) and a stale one is never served: feedback and refresh change
the key. Both backends run the same tests."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
import redis
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from floyo.settings import Settings
from serving.cache import MemoryCache, RedisCache, cache_key
from tests.serving.api_helpers import SuggestionFactory, set_state
from tests.utils.clients import ClientFactory, clients_with
from tests.utils.factories import Device

REDIS_URL = "redis://127.0.0.1:6379/13"  # a database of its own: the tests empty it


@pytest.fixture
def client_with(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[ClientFactory]:
    """``client_with(FLOYO_X="1")``: the composed app in process with extra settings."""
    from serving.app import create_app

    with clients_with(monkeypatch, create_app) as make:
        yield make


@pytest.fixture(params=["memory", "redis"])
def cached_api(request: pytest.FixtureRequest, client_with: ClientFactory) -> TestClient:
    """The app with each cache backend (Redis emptied first: user ids repeat across test databases)."""
    if request.param == "redis":
        redis.Redis.from_url(REDIS_URL).flushdb()
        return client_with(FLOYO_REDIS_URL=REDIS_URL)
    return client_with()


def _ids(client: TestClient, device: Device) -> list[str]:
    response = client.get("/api/v1/suggestions", headers=device.headers)
    assert response.status_code == 200, response.text
    return [s["id"] for s in response.json()["suggestions"]]


def _rescore(engine: Engine, sid: str, score: float) -> None:
    with engine.begin() as conn:  # a change the cache cannot know about: no new version
        conn.execute(text("UPDATE suggestions SET score = :s WHERE id = :id"), {"s": score, "id": sid})


def test_the_answer_is_cached_until_a_refresh_changes_the_version(
    cached_api: TestClient, device: Device, suggest: SuggestionFactory, engine: Engine
):
    a = suggest(device.user_id, score=0.9)
    b = suggest(device.user_id, score=0.1)
    assert _ids(cached_api, device) == [a, b]
    _rescore(engine, b, 0.99)
    assert _ids(cached_api, device) == [a, b]  # served from the cache: the row changed, the version did not
    set_state(engine, device.user_id)  # what a refresh does after writing
    assert _ids(cached_api, device) == [b, a]


def test_feedback_drops_the_cached_answer(
    cached_api: TestClient, device: Device, suggest: SuggestionFactory, engine: Engine
):
    a = suggest(device.user_id, score=0.9)
    b = suggest(device.user_id, score=0.1)
    assert _ids(cached_api, device) == [a, b]
    response = cached_api.post(f"/api/v1/suggestions/{a}/feedback", headers=device.headers, json={"action": "dismiss"})
    assert response.status_code == 200
    assert _ids(cached_api, device) == [b]


def test_answers_are_per_user(cached_api: TestClient, device: Device, suggest: SuggestionFactory, engine: Engine):
    from tests.utils.factories import make_device

    other = make_device(engine)
    mine = suggest(device.user_id)
    theirs = suggest(other.user_id)
    assert _ids(cached_api, device) == [mine]
    assert _ids(cached_api, other) == [theirs]


def test_redis_holds_the_answer_under_the_user_version_and_ranker(
    client_with: ClientFactory, device: Device, suggest: SuggestionFactory, engine: Engine
):
    r = redis.Redis.from_url(REDIS_URL)
    r.flushdb()
    api = client_with(FLOYO_REDIS_URL=REDIS_URL, FLOYO_CACHE_TTL_SECONDS=120)
    suggest(device.user_id)
    _ids(api, device)
    with engine.connect() as conn:
        version = conn.execute(
            text("SELECT version FROM suggestion_state WHERE user_id = :u"), {"u": device.user_id}
        ).scalar_one()
    key = cache_key(device.user_id, version, None)
    assert key == f"floyo:suggestions:{device.user_id}:{version}:transparent"
    assert 0 < int(r.pttl(key)) <= 120_000  # type: ignore[arg-type]


def test_a_redis_that_is_down_costs_the_cache_not_the_answer(
    client_with: ClientFactory, device: Device, suggest: SuggestionFactory
):
    api = client_with(FLOYO_REDIS_URL="redis://127.0.0.1:1/0")  # nothing listens on port 1
    sid = suggest(device.user_id)
    assert _ids(api, device) == [sid]
    assert _ids(api, device) == [sid]


def test_cache_off_answers_from_the_database_each_time(
    client_with: ClientFactory, device: Device, suggest: SuggestionFactory, engine: Engine
):
    api = client_with(FLOYO_CACHE_TTL_SECONDS=0)
    a = suggest(device.user_id, score=0.9)
    b = suggest(device.user_id, score=0.1)
    assert _ids(api, device) == [a, b]
    _rescore(engine, b, 0.99)
    assert _ids(api, device) == [b, a]


@pytest.mark.parametrize("make", [lambda: MemoryCache(10), lambda: RedisCache(REDIS_URL)], ids=["memory", "redis"])
def test_entries_expire_after_their_ttl(make: Callable[[], MemoryCache | RedisCache]):
    cache = make()
    cache.set("floyo:suggestions:test:ttl", {"a": 1}, 0.05)
    assert cache.get("floyo:suggestions:test:ttl") == {"a": 1}
    deadline = time.monotonic() + 5
    while cache.get("floyo:suggestions:test:ttl") is not None:  # gone once the TTL has passed, never kept
        assert time.monotonic() < deadline, "the entry outlived its TTL by seconds"
        time.sleep(0.01)
    cache.close()


def test_the_memory_cache_keeps_the_most_recently_used():
    cache = MemoryCache(2)
    cache.set("a", {"v": 1}, 60)
    cache.set("b", {"v": 2}, 60)
    assert cache.get("a") == {"v": 1}  # a is now the most recent
    cache.set("c", {"v": 3}, 60)
    assert cache.get("b") is None
    assert cache.get("a") == {"v": 1}
    assert cache.get("c") == {"v": 3}
    value = cache.get("a")
    assert value is not None
    value["v"] = 99  # a caller's copy, not the cached answer
    assert cache.get("a") == {"v": 1}


def test_the_memory_cache_sweeps_expired_answers_when_it_stores_one():
    """Answers under an old version are never read again: they must not wait for the LRU's bound to go."""
    cache = MemoryCache(1000)
    for version in range(50):
        cache.set(f"floyo:suggestions:1:{version}:transparent", {"v": version}, 0.001)
    began = time.monotonic()
    while time.monotonic() < began + 0.002:  # past their TTL (a monotonic clock, not a sleep to settle a race)
        pass
    cache.set("floyo:suggestions:1:50:transparent", {"v": 50}, 60)
    assert len(cache) == 1
    assert cache.get("floyo:suggestions:1:50:transparent") == {"v": 50}
