"""Streams that give their database connection back when the client goes away, and a per-user bound on them."""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager

from floyo.errors import RateLimited


class ClosableStream:
    """A byte generator the request's scope can close from another thread once the response is over.

    Starlette pulls a sync body through worker threads and, when the client disconnects, just stops pulling: the
    generator (and the server-side cursor inside it) would stay open until garbage collection, which could then
    close the cursor on a connection already serving someone else. ``close`` waits for a step in flight, then
    closes the generator on the request's own connection, before that connection is committed and returned.
    """

    def __init__(self, chunks: Generator[bytes, None, None]) -> None:
        self._chunks = chunks
        self._lock = threading.Lock()
        self._closed = False

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        with self._lock:
            if self._closed:
                raise StopIteration
            return next(self._chunks)

    def close(self) -> None:
        """Stop the stream (idempotent); runs the generator's cleanup, e.g. closing its cursor."""
        with self._lock:
            self._closed = True
            self._chunks.close()


class ConcurrencyLimiter:
    """At most ``limit`` concurrent holders per key (in this process): one user's exports cannot take every
    connection of the pool."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._held: dict[str, int] = {}
        self._lock = threading.Lock()

    def acquire(self, key: str) -> Callable[[], None]:
        """Take a slot for ``key`` or raise RateLimited; returns the release (call it once)."""
        with self._lock:
            held = self._held.get(key, 0)
            if held >= self.limit:
                raise RateLimited(
                    "too_many_exports", f"{held} exports are already running for you; wait for one to finish", 1.0
                )
            self._held[key] = held + 1
        released = False

        def release() -> None:
            nonlocal released
            with self._lock:
                if released:
                    return
                released = True
                left = self._held[key] - 1
                if left:
                    self._held[key] = left
                else:
                    del self._held[key]

        return release

    def held(self, key: str) -> int:
        """How many slots ``key`` holds now."""
        with self._lock:
            return self._held.get(key, 0)

    @contextmanager
    def slot(self, key: str) -> Iterator[None]:
        """Hold a slot for the block."""
        release = self.acquire(key)
        try:
            yield
        finally:
            release()
