"""Turn a telemetry body into validated, skew-corrected rows and per-event rejections (no I/O)."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from pydantic import TypeAdapter, ValidationError

from floyo.errors import InvalidInput, MalformedRequest, PayloadTooLarge
from floyo.events import Event, ValidEvent, fast_validate
from floyo.privacy import is_excluded_path

EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
_events_adapter: TypeAdapter[list[Event]] = TypeAdapter(list[Event])
_time_adapter: TypeAdapter[datetime] = TypeAdapter(datetime)


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why one event of a batch was not stored."""

    index: int
    event_id: str | None
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"index": self.index, "event_id": self.event_id, "reason": self.reason}


@dataclass(slots=True)
class ValidatedBatch:
    """The good events (with their index in the request) and the rejected ones."""

    received_at: datetime
    skew: timedelta
    events: list[tuple[int, ValidEvent]] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    repeated: list[int] = field(default_factory=list)  # same event_id earlier in this batch: a duplicate


def parse_body(body: bytes, *, max_events: int) -> tuple[datetime | None, list[Any]]:
    """Decode ``{"sent_at": ..., "events": [...]}``; whole-request problems raise, per-event ones do not."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MalformedRequest("malformed_json", f"the body is not valid JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise InvalidInput("invalid_body", "the body must be a JSON object with an 'events' array")
    events = doc.get("events")
    if not isinstance(events, list):
        raise InvalidInput("invalid_body", "'events' must be an array of event objects")
    if len(events) > max_events:
        raise PayloadTooLarge(
            "too_many_events",
            f"{len(events)} events in one request; the limit is {max_events}",
            {"limit": max_events},
        )
    return _parse_sent_at(doc.get("sent_at")), events


def _parse_sent_at(value: Any) -> datetime | None:
    if value is None:
        return None
    try:
        if not isinstance(value, str):
            raise ValueError("must be an ISO 8601 string")
        sent_at = _time_adapter.validate_python(value)
        return sent_at.replace(tzinfo=UTC) if sent_at.tzinfo is None else sent_at.astimezone(UTC)
    except (ValidationError, ValueError, OverflowError) as exc:
        raise InvalidInput("invalid_sent_at", f"'sent_at' is not an ISO 8601 timestamp: {value!r}") from exc


def _reason(errors: list[Any]) -> str:
    parts = []
    for err in errors:
        loc = ".".join(str(p) for p in err["loc"][1:])
        msg = "an event must be a JSON object" if err["type"] == "model_type" else err["msg"]
        msg = msg.removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(parts)


def _event_id_of(raw: Any) -> str | None:
    value = raw.get("event_id") if isinstance(raw, dict) else None
    return value[:64] if isinstance(value, str) else None


def _validate_by_model(
    raw_events: list[Any], indices: list[int]
) -> tuple[list[tuple[int, ValidEvent]], list[Rejection]]:
    """Validate ``raw_events[i] for i in indices`` through the ``Event`` model: the good ones and the rejections."""
    subset = [raw_events[i] for i in indices]
    try:
        return [
            (i, ValidEvent.of(e)) for i, e in zip(indices, _events_adapter.validate_python(subset), strict=True)
        ], []
    except ValidationError as exc:
        by_index: dict[int, list[Any]] = {}
        for err in exc.errors(include_url=False):
            by_index.setdefault(indices[int(err["loc"][0])], []).append(err)
    rejected = [Rejection(i, _event_id_of(raw_events[i]), _reason(errs)) for i, errs in by_index.items()]
    keep = [i for i in indices if i not in by_index]
    models = _events_adapter.validate_python([raw_events[i] for i in keep])
    return [(i, ValidEvent.of(e)) for i, e in zip(keep, models, strict=True)], rejected


EXCLUDED_REASON = "path: excluded (version control, dependencies, caches, editor temporaries or secrets)"
# paths repeat a lot within and across batches: the glob matching runs once per distinct path
_excluded = functools.lru_cache(maxsize=65_536)(is_excluded_path)


def validate_events(
    raw_events: list[Any],
    *,
    sent_at: datetime | None,
    received_at: datetime,
    max_future: timedelta,
    fast: bool = True,
) -> ValidatedBatch:
    """Validate every event; one bad event never affects its neighbours.

    With ``fast`` (the default), plainly valid events skip the model (``floyo.events.fast_validate``, same
    decisions and values); the model validates and explains all others. ``fast=False`` is for tests.
    """
    skew = received_at - sent_at if sent_at is not None else timedelta(0)
    batch = ValidatedBatch(received_at=received_at, skew=skew)
    good: list[tuple[int, ValidEvent]] = []
    slow: list[int] = []
    for index, raw in enumerate(raw_events):
        valid = fast_validate(raw) if fast else None
        if valid is None:
            slow.append(index)
        else:
            good.append((index, valid))
    if slow:
        by_model, batch.rejected = _validate_by_model(raw_events, slow)
        good = sorted(good + by_model, key=lambda pair: pair[0]) if good else by_model
    latest = received_at + max_future
    seen: set[str] = set()
    for index, event in good:
        try:
            corrected = event.ts + skew
        except OverflowError:  # a wild sent_at pushes the time past year 1 or 9999
            batch.rejected.append(Rejection(index, str(event.event_id), "ts: out of range after clock-skew correction"))
            continue
        if corrected > latest:
            batch.rejected.append(
                Rejection(index, str(event.event_id), f"ts: {corrected.isoformat()} is in the future")
            )
        elif corrected < EARLIEST:
            batch.rejected.append(Rejection(index, str(event.event_id), f"ts: {corrected.isoformat()} is before 2000"))
        elif _excluded(event.path) or (event.dest_path is not None and _excluded(event.dest_path)):
            # defence in depth: the agent never sends these; an old or foreign client might
            batch.rejected.append(Rejection(index, str(event.event_id), EXCLUDED_REASON))
        elif event.event_id in seen:
            batch.repeated.append(index)
        else:
            seen.add(event.event_id)
            batch.events.append((index, event))
    batch.rejected.sort(key=lambda r: r.index)
    return batch
