"""The one ingest path, shared by the API, the CSV loader and the demo: validate, then store idempotently.

Events are always written as the request role (``floyo_user``) scoped to their user, so the insert policy
checks every row, whoever calls.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from floyo.db.scoping import ScopedConnection, scoped_connection
from floyo.events import now_utc
from floyo.settings import Settings
from ingest.metrics import EVENTS, REJECTED, rejection_field
from ingest.store import StoreResult, store_batch
from ingest.validation import parse_body, validate_events


def ingest_scoped(
    scoped: ScopedConnection,
    settings: Settings,
    raw_events: list[Any],
    *,
    user_id: int,
    device_id: int,
    sent_at: datetime | None = None,
    received_at: datetime | None = None,
) -> StoreResult:
    """Validate and store events for one device on a scoped connection; committed before returning."""
    batch = validate_events(
        raw_events,
        sent_at=sent_at,
        received_at=received_at or now_utc(),
        max_future=timedelta(hours=settings.max_future_skew_hours),
    )
    result = store_batch(scoped, batch, user_id=user_id, device_id=device_id)
    EVENTS.labels("accepted").inc(result.accepted)
    EVENTS.labels("duplicate").inc(len(result.duplicates))
    EVENTS.labels("rejected").inc(len(result.rejected))
    for rejection in result.rejected:
        REJECTED.labels(rejection_field(rejection.reason)).inc()
    return result


def ingest_events(
    engine: Engine,
    settings: Settings,
    raw_events: list[Any],
    *,
    user_id: int,
    device_id: int,
    sent_at: datetime | None = None,
    received_at: datetime | None = None,
) -> StoreResult:
    """Validate and store events for one device (loader, demo), as the request role scoped to ``user_id``."""
    with scoped_connection(engine, user_id) as scoped:
        return ingest_scoped(
            scoped, settings, raw_events, user_id=user_id, device_id=device_id, sent_at=sent_at, received_at=received_at
        )


def ingest_body(
    scoped: ScopedConnection, settings: Settings, body: bytes, *, user_id: int, device_id: int
) -> StoreResult:
    """Decode a telemetry request body and ingest its events on the request's scoped connection."""
    received_at = now_utc()
    sent_at, raw_events = parse_body(body, max_events=settings.max_batch_events)
    return ingest_scoped(
        scoped,
        settings,
        raw_events,
        user_id=user_id,
        device_id=device_id,
        sent_at=sent_at,
        received_at=received_at,
    )
