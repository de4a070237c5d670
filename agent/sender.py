"""Shipping the spool to the ingest API: batches within the server's limits, deleted only after its answer.

- 200: every event the answer covers is deleted; per-event rejections are logged and dropped (never retried).
- 413 or a whole-batch 400/415/422: the batch is halved until the culprit is alone, then it is dropped
  (logged): one bad event never blocks the queue; the batch size grows back after each success.
- 429/503: wait ``Retry-After`` (or back off); 401/403, 5xx and network errors: exponential backoff with jitter,
  the events stay queued.
"""

from __future__ import annotations

import gzip
import logging
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from agent.spool import Spool
from floyo.events import now_utc

log = logging.getLogger(__name__)

SERVER_MAX_EVENTS = 5000
SERVER_MAX_BYTES = 5 * 1024 * 1024


@dataclass
class SendState:
    """What the status command shows about sending."""

    last_error: str | None = None
    last_error_at: float | None = None
    last_success_at: float | None = None
    attempts: int = 0
    batch_events: int = SERVER_MAX_EVENTS
    extra: dict[str, Any] = field(default_factory=dict)


class Sender:
    """A loop that empties the spool into ``POST {server}/api/v1/telemetry``."""

    def __init__(
        self,
        spool: Spool,
        server: str,
        token: str,
        *,
        max_events: int = SERVER_MAX_EVENTS,
        max_bytes: int = SERVER_MAX_BYTES,
        backoff_base: float = 0.5,
        backoff_max: float = 60.0,
        timeout: float = 30.0,
    ) -> None:
        self.spool = spool
        self.url = server.rstrip("/") + "/api/v1/telemetry"
        self.token = token
        self.max_events = max_events
        self.max_bytes = int(max_bytes * 0.9)  # headroom for the envelope
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.state = SendState(batch_events=max_events)
        self.wake = threading.Event()
        self.stop = threading.Event()
        self._failures = 0
        self._client = httpx.Client(timeout=timeout, headers={"Authorization": f"Bearer {token}"})

    def run(self) -> None:
        """Send until ``stop`` is set; sleeps on ``wake`` when the spool is empty."""
        try:
            while not self.stop.is_set():
                try:
                    delay = self.step()
                except Exception as exc:  # never let the sending thread die silently: report, back off, go on
                    log.exception("unexpected error while sending")
                    self._error(f"unexpected: {type(exc).__name__}: {exc}")
                    delay = self._backoff()
                if delay > 0:
                    self.stop.wait(delay)
        finally:
            self._client.close()
            self.spool.close()

    def step(self) -> float:
        """Send the oldest batch, or wait a little for one; returns how long to wait before the next step."""
        batch = self.spool.peek(self.state.batch_events, self.max_bytes)
        if not batch:
            self.wake.wait(timeout=1.0)
            self.wake.clear()
            return 0.0
        return self.send(batch)

    def healthy(self) -> bool:
        """True unless the latest attempt failed."""
        error, success = self.state.last_error_at, self.state.last_success_at
        return error is None or (success is not None and success > error)

    def _backoff(self, retry_after: float | None = None) -> float:
        self._failures += 1
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.backoff_max) + random.uniform(0, self.backoff_base)
        cap = min(self.backoff_max, self.backoff_base * 2 ** (self._failures - 1))
        return float(cap / 2 + random.uniform(0, cap / 2))  # "equal jitter": never a thundering herd, never zero

    def _error(self, message: str) -> None:
        if message != self.state.last_error:
            log.warning("sending failed: %s", message)
        self.state.last_error, self.state.last_error_at = message, time.time()

    def send(self, batch: list[tuple[int, bytes]]) -> float:
        """POST one batch; returns how long to wait before the next attempt (0: go on at once)."""
        body = b'{"sent_at":' + orjson.dumps(now_utc().isoformat()) + b',"events":['
        body += b",".join(b for _, b in batch) + b"]}"
        self.state.attempts += 1
        try:
            answer = self._client.post(
                self.url,
                content=gzip.compress(body, compresslevel=5),
                headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
            )
        except httpx.HTTPError as exc:
            self._error(f"server unreachable: {type(exc).__name__}: {exc}")
            return self._backoff()
        if answer.status_code == 200:
            self._accepted(batch, answer.json())
            return 0.0
        return self._refused(batch, answer)

    def _accepted(self, batch: list[tuple[int, bytes]], result: dict[str, Any]) -> None:
        for rejection in result.get("rejections", []):
            log.warning(
                "the server rejected event %s for good, dropped: %s",
                rejection.get("event_id"), str(rejection.get("reason"))[:300],
            )  # fmt: skip
        self.spool.ack(
            [i for i, _ in batch],
            sent=int(result.get("accepted", 0)),
            duplicate=int(result.get("duplicate", 0)),
            rejected=int(result.get("rejected", 0)),
        )
        self._failures = 0
        self.state.batch_events = min(self.max_events, self.state.batch_events * 2)
        self.state.last_success_at = time.time()

    def _refused(self, batch: list[tuple[int, bytes]], answer: httpx.Response) -> float:
        code = answer.status_code
        try:
            error = answer.json()["error"]
            detail, limit = str(error["message"]), (error.get("details") or {}).get("limit")
        except (ValueError, KeyError, TypeError, AttributeError):
            detail, limit = answer.text[:200], None
        if code == 413 and isinstance(limit, int) and 0 < limit < len(batch):
            self.max_events = self.state.batch_events = limit  # the server said its event limit
            return 0.0
        if code in (400, 413, 415, 422):
            if len(batch) > 1:
                self.state.batch_events = max(1, len(batch) // 2)
                return 0.0
            log.error("the server refused a single event for good (%d: %s); dropped", code, detail)
            self.spool.ack([batch[0][0]], rejected=1)
            return 0.0
        self._error(f"HTTP {code}: {detail}")
        if code in (429, 503):
            retry_after = answer.headers.get("Retry-After")
            try:
                return self._backoff(float(retry_after) if retry_after else None)
            except ValueError:
                return self._backoff()
        return self._backoff()
