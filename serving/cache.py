"""Per-user answers, cached: Redis when ``FLOYO_REDIS_URL`` is set, else an in-process LRU with a TTL.

The key holds the user, their ``suggestion_state.version`` and the ranker's version. Feedback and refresh change
the version and a new champion changes the ranker, so a stale answer is never looked up again: it only waits
for its TTL. A cache that fails (Redis down) is a miss, never a failed request.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from typing import Any, Protocol

import orjson

from floyo.settings import Settings

log = logging.getLogger(__name__)

PREFIX = "floyo:suggestions:"


def cache_key(user_id: int, state_version: int, ranker_version: str | None) -> str:
    """The key of one user's answer for this state of their suggestions and this ranker."""
    return f"{PREFIX}{user_id}:{state_version}:{ranker_version or 'transparent'}"


class AnswerCache(Protocol):
    """Where answers are kept: ``get`` a key's value or None, ``set`` it for ``ttl`` seconds (at most ``ttl``, the
    configured lifetime of an answer)."""

    name: str
    ttl: float

    def get(self, key: str) -> dict[str, Any] | None: ...

    def set(self, key: str, value: dict[str, Any], ttl: float) -> None: ...

    def close(self) -> None: ...


class NoCache:
    """Caching off (``FLOYO_CACHE_TTL_SECONDS=0``)."""

    name = "off"
    ttl = 0.0

    def get(self, key: str) -> dict[str, Any] | None:
        return None

    def set(self, key: str, value: dict[str, Any], ttl: float) -> None:
        return None

    def close(self) -> None:
        return None


class MemoryCache:
    """An LRU of at most ``max_entries`` answers, each dropped after its TTL (one process's own)."""

    name = "memory"

    def __init__(self, max_entries: int, ttl: float = 300.0) -> None:
        self.max_entries = max_entries
        self.ttl = ttl
        self._items: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return None
            if item[0] <= time.monotonic():
                del self._items[key]
                return None
            self._items.move_to_end(key)
        # stored serialised: a caller that changes its copy cannot change the cached answer
        value: dict[str, Any] = orjson.loads(item[1])
        return value

    def set(self, key: str, value: dict[str, Any], ttl: float) -> None:
        if ttl <= 0:
            return
        data = orjson.dumps(value)
        now = time.monotonic()
        with self._lock:
            self._items[key] = (now + ttl, data)
            self._items.move_to_end(key)
            while len(self._items) > self.max_entries:
                self._items.popitem(last=False)
            # an answer under an old version is never asked for again: without this sweep of the least recently
            # used end it stayed until max_entries pushed it out, so memory grew with every feedback for minutes
            while self._items:
                oldest = next(iter(self._items))
                if self._items[oldest][0] > now:
                    break
                del self._items[oldest]

    def __len__(self) -> int:
        return len(self._items)

    def close(self) -> None:
        with self._lock:
            self._items.clear()


class RedisCache:
    """Answers in Redis, shared by every worker and replica, each with its TTL (``PX``)."""

    name = "redis"

    def __init__(self, url: str, ttl: float = 300.0) -> None:
        import redis

        self.ttl = ttl
        # short timeouts: a slow Redis costs a miss, not the request
        self._redis = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self._warned = False

    def _failed(self, doing: str, exc: Exception) -> None:
        if not self._warned:  # once per outage, not once per request
            log.warning("redis cache unavailable while %s: %s", doing, type(exc).__name__)
            self._warned = True

    def get(self, key: str) -> dict[str, Any] | None:
        try:
            data = self._redis.get(key)
        except Exception as exc:  # any Redis failure is a miss
            self._failed("reading", exc)
            return None
        self._warned = False
        if data is None:
            return None
        value: dict[str, Any] = orjson.loads(data)  # type: ignore[arg-type]
        return value

    def set(self, key: str, value: dict[str, Any], ttl: float) -> None:
        millis = int(ttl * 1000)
        if millis <= 0:
            return
        try:
            self._redis.set(key, orjson.dumps(value), px=millis)
        except Exception as exc:  # the answer is still given; the next request recomputes it
            self._failed("writing", exc)

    def close(self) -> None:
        self._redis.close()


def make_cache(settings: Settings) -> AnswerCache:
    """The cache the settings ask for: off, Redis, or in process."""
    if settings.cache_ttl_seconds <= 0:
        return NoCache()
    if settings.redis_url:
        return RedisCache(settings.redis_url, settings.cache_ttl_seconds)
    return MemoryCache(settings.cache_max_entries, settings.cache_ttl_seconds)
