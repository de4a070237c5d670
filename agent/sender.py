"""Shipping the spool to the ingest API: batches within the server's limits, deleted only after its answer.

An event leaves the spool only on the server's own answer: a 200 whose body accounts for every event of the
batch (accepted, or a duplicate or a rejection by index), or Floyo's error format naming the batch's content
(``CONTENT_ERRORS``) for that event alone.

- 200 with Floyo's answer: every event is deleted; per-event rejections are logged and dropped (never retried).
- 413 with the server's limit: batches shrink to it. 400/413/422 in Floyo's format about the content: the batch
  is halved until the culprit is alone, then it is dropped (logged): one bad event never blocks the queue; the
  batch size grows back after each success.
- Anything else: a proxy's 400 or HTML page, a 200 that is not Floyo's answer, 415, 401/403, 5xx, network
  errors: the events stay queued and the sender backs off (exponentially, with jitter; 429/503: ``Retry-After``).
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
            result = batch_result(answer, len(batch))
            if result is None:
                self._error(f"HTTP 200 that is not Floyo's answer to {len(batch)} events: {_excerpt(answer)}")
                return self._backoff()
            self._accepted(batch, result)
            return 0.0
        return self._refused(batch, answer)

    def _accepted(self, batch: list[tuple[int, bytes]], result: dict[str, Any]) -> None:
        for rejection in result["rejections"]:
            log.warning(
                "the server rejected event %s for good, dropped: %s",
                _event_id(batch[rejection["index"]][1]), str(rejection.get("reason"))[:300],
            )  # fmt: skip
        self.spool.ack(
            [i for i, _ in batch], sent=result["accepted"], duplicate=result["duplicate"], rejected=result["rejected"]
        )
        self._failures = 0
        self.state.batch_events = min(self.max_events, self.state.batch_events * 2)
        self.state.last_success_at = time.time()

    def _refused(self, batch: list[tuple[int, bytes]], answer: httpx.Response) -> float:
        code = answer.status_code
        error = floyo_error(answer)
        if error is None:
            # not the server's own answer (a proxy, a captive portal, a load balancer's page): nothing is
            # known about the events, so they stay queued and the sender backs off
            self._error(f"HTTP {code} that is not Floyo's answer: {_excerpt(answer)}")
            return self._backoff(_retry_after(answer) if code in (429, 503) else None)
        limit = (error.get("details") or {}).get("limit") if isinstance(error.get("details"), dict) else None
        if code == 413 and isinstance(limit, int) and 0 < limit < len(batch):
            self.max_events = self.state.batch_events = limit  # the server said its event limit
            return 0.0
        if code in (400, 413, 422) and error["code"] in CONTENT_ERRORS:
            if len(batch) > 1:  # halve until the event the server refuses is alone
                self.state.batch_events = max(1, len(batch) // 2)
                return 0.0
            log.error(
                "the server refused event %s alone for good (%d %s: %s); dropped",
                _event_id(batch[0][1]), code, error["code"], error["message"],
            )  # fmt: skip
            self.spool.ack([batch[0][0]], rejected=1)
            return 0.0
        self._error(f"HTTP {code} {error['code']}: {error['message']}")
        return self._backoff(_retry_after(answer) if code in (429, 503) else None)


# Floyo's error codes that are about the batch's content: a batch answered with one of them is split until the
# event responsible is alone, and that event alone answered so is dropped. Any other error keeps the events.
CONTENT_ERRORS = frozenset({"malformed_json", "invalid_body", "body_too_large", "too_many_events"})


def floyo_error(answer: httpx.Response) -> dict[str, Any] | None:
    """The server's own error body ``{"error": {"code", "message", "details"}}``; None for any other answer."""
    doc = _json(answer)
    if not isinstance(doc, dict) or set(doc) != {"error"}:
        return None
    error = doc["error"]
    if not isinstance(error, dict) or set(error) != {"code", "message", "details"}:
        return None
    if not isinstance(error["code"], str) or not isinstance(error["message"], str):
        return None
    return error


def batch_result(answer: httpx.Response, size: int) -> dict[str, Any] | None:
    """The server's per-event answer to a batch of ``size`` events (every index accounted for); None otherwise."""
    doc = _json(answer)
    if not isinstance(doc, dict):
        return None
    counts = [c for k in ("accepted", "duplicate", "rejected") if type(c := doc.get(k)) is int and c >= 0]
    duplicates, rejections = doc.get("duplicates"), doc.get("rejections")
    if len(counts) != 3 or sum(counts) != size:
        return None
    if not isinstance(duplicates, list) or not isinstance(rejections, list):
        return None
    if not all(isinstance(r, dict) for r in rejections):
        return None
    indices = [*duplicates, *(r.get("index") for r in rejections)]
    if not all(type(i) is int and 0 <= i < size for i in indices) or len(set(indices)) != len(indices):
        return None
    if len(duplicates) != counts[1] or len(rejections) != counts[2]:
        return None
    return doc


def _json(answer: httpx.Response) -> Any:
    if answer.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        return None
    try:
        return answer.json()
    except ValueError:
        return None


def _excerpt(answer: httpx.Response) -> str:
    return " ".join(answer.text[:200].split()) or "(empty body)"


def _event_id(body: bytes) -> str:
    try:
        return str(orjson.loads(body).get("event_id"))
    except (orjson.JSONDecodeError, AttributeError):
        return "(unreadable)"


def _retry_after(answer: httpx.Response) -> float | None:
    try:
        return float(answer.headers.get("Retry-After", ""))
    except ValueError:
        return None
