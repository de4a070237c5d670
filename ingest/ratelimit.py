"""Per-token rate limits: a token bucket per principal, in process memory."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict

from floyo.errors import RateLimited

_MAX_KEYS = 100_000


class TokenBucketLimiter:
    """Allows ``rate`` requests per second per key with bursts up to ``burst``."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = float(burst)
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def check(self, key: str) -> None:
        """Take one token for ``key`` or raise RateLimited with the wait until the next one."""
        now = time.monotonic()
        with self._lock:
            tokens, stamp = self._buckets.pop(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - stamp) * self.rate)
            if tokens < 1.0:
                self._buckets[key] = (tokens, now)
                wait = (1.0 - tokens) / self.rate
                raise RateLimited("rate_limited", f"too many requests; retry in {wait:.2f} s", wait)
            self._buckets[key] = (tokens - 1.0, now)
            if len(self._buckets) > _MAX_KEYS:
                self._buckets.popitem(last=False)
