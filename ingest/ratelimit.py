"""Rate limits: token buckets shared by every worker through Redis when ``FLOYO_REDIS_URL`` is set, in process
memory otherwise (or while Redis is unreachable).

Two limits use them: requests per device token (per user for JWTs), and authentication failures per client
address, which is checked before the request touches the database.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from typing import Any, Protocol

from floyo.errors import RateLimited
from floyo.settings import Settings

log = logging.getLogger(__name__)

_MAX_KEYS = 100_000
_REDIS_RETRY_SECONDS = 5.0  # after a Redis failure, buckets stay in process this long before Redis is tried again


class Buckets(Protocol):
    """Token buckets by key: ``take`` refills, then spends ``cost`` if a whole token is there (or always, with
    ``force``); returns 0.0 when it was there, else the seconds until one will be."""

    def take(self, key: str, cost: float, *, force: bool = False) -> float: ...


def _refill_and_take(
    tokens: float, elapsed: float, rate: float, burst: float, cost: float, force: bool
) -> tuple[float, float]:
    """(tokens left, wait): the one rule both stores apply."""
    tokens = min(burst, tokens + max(0.0, elapsed) * rate)
    if tokens >= 1.0:
        return tokens - cost, 0.0
    wait = (1.0 - tokens) / rate
    return (max(0.0, tokens - cost) if force else tokens), wait


class MemoryBuckets:
    """Buckets in this process (least recently used keys forgotten beyond 100,000)."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = float(burst)
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, key: str, cost: float, *, force: bool = False) -> float:
        now = time.monotonic()
        with self._lock:
            tokens, stamp = self._buckets.pop(key, (self.burst, now))
            tokens, wait = _refill_and_take(tokens, now - stamp, self.rate, self.burst, cost, force)
            self._buckets[key] = (tokens, now)
            if len(self._buckets) > _MAX_KEYS:
                self._buckets.popitem(last=False)
        return wait


# The same rule in Lua, atomic in Redis, on Redis's clock (workers on several hosts agree on it).
_TAKE_LUA = """
local rate, burst, cost, force = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4] == '1'
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'stamp')
local tokens = tonumber(state[1]) or burst
local stamp = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - stamp) * rate)
local wait = 0
if tokens >= 1 then
    tokens = tokens - cost
else
    wait = (1 - tokens) / rate
    if force then tokens = math.max(0, tokens - cost) end
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'stamp', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return tostring(wait)
"""


class RedisBuckets:
    """Buckets in Redis, shared by every worker and process using the same ``prefix``; in process memory while
    Redis is unreachable (a limit per process beats no limit, and beats refusing every request)."""

    def __init__(self, url: str, rate: float, burst: int, *, prefix: str) -> None:
        import redis

        self.rate = rate
        self.burst = float(burst)
        self.prefix = prefix
        client = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self._script: Any = client.register_script(_TAKE_LUA)
        self._fallback = MemoryBuckets(rate, burst)
        self._down_until = 0.0

    def take(self, key: str, cost: float, *, force: bool = False) -> float:
        if time.monotonic() >= self._down_until:
            import redis

            try:
                args = [self.rate, self.burst, cost, "1" if force else "0"]
                return float(self._script(keys=[self.prefix + key], args=args))
            except redis.RedisError as exc:
                self._down_until = time.monotonic() + _REDIS_RETRY_SECONDS
                log.warning("rate limits kept in process for %.0f s: Redis failed: %s", _REDIS_RETRY_SECONDS, exc)
        return self._fallback.take(key, cost, force=force)


def buckets(settings: Settings, rate: float, burst: int, *, name: str) -> Buckets:
    """Redis buckets named ``name`` when ``FLOYO_REDIS_URL`` is set, else in-process ones."""
    if settings.redis_url:
        return RedisBuckets(settings.redis_url, rate, burst, prefix=f"floyo:ratelimit:{name}:")
    return MemoryBuckets(rate, burst)


class TokenBucketLimiter:
    """Allows ``rate`` requests per second per key with bursts up to ``burst`` (in process unless ``store`` is given)."""

    def __init__(self, rate: float, burst: int, store: Buckets | None = None) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.store = store or MemoryBuckets(rate, burst)

    def check(self, key: str) -> None:
        """Take one token for ``key`` or raise RateLimited with the wait until the next one."""
        wait = self.store.take(key, 1.0)
        if wait > 0:
            raise RateLimited("rate_limited", f"too many requests; retry in {wait:.2f} s", wait)


class FailureLimiter:
    """Limits failures per key (authentication failures per client address): ``check`` costs nothing and refuses
    once the key has spent its allowance; ``record`` spends one."""

    def __init__(self, store: Buckets) -> None:
        self.store = store

    def check(self, key: str) -> None:
        """Raise RateLimited when ``key`` has failed too often lately (no token is spent)."""
        wait = self.store.take(key, 0.0)
        if wait > 0:
            raise RateLimited(
                "too_many_auth_failures", f"too many failed authentications from your address; retry in {wait:.0f} s",
                wait,
            )  # fmt: skip

    def record(self, key: str) -> None:
        """Count one failure for ``key``."""
        self.store.take(key, 1.0, force=True)


def request_limiter(settings: Settings) -> TokenBucketLimiter:
    """The per-principal request limit, shared through Redis when configured."""
    rate, burst = settings.rate_limit_per_second, settings.rate_limit_burst
    return TokenBucketLimiter(rate, burst, buckets(settings, rate, burst, name="requests"))


def auth_failure_limiter(settings: Settings) -> FailureLimiter:
    """The per-address limit on authentication failures, shared through Redis when configured."""
    rate = settings.auth_failures_per_minute / 60.0
    return FailureLimiter(buckets(settings, rate, settings.auth_failure_burst, name="auth-failures"))
