"""Plain factory functions for tests."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, text

from floyo.auth import create_device_token, ensure_device, issue_jwt
from floyo.settings import Settings


@dataclass(frozen=True)
class Device:
    """A user's device with its token, as tests use it."""

    user: str
    device: str
    token: str
    user_id: int
    device_id: int

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def make_device(engine: Engine, *, user: str | None = None, device: str = "laptop", admin: bool = False) -> Device:
    """A new user (unique name unless given) with a device token."""
    user = user or f"user-{uuid.uuid4().hex[:10]}"
    with engine.begin() as conn:
        token = create_device_token(conn, user=user, device=device, is_admin=admin)
        user_id, device_id = ensure_device(conn, user=user, device=device)  # exists now: only its ids
    return Device(user, device, token, user_id, device_id)


def make_event(**overrides: Any) -> dict[str, Any]:
    """A valid telemetry event as JSON-ready dict (a fresh id, one minute ago)."""
    event: dict[str, Any] = {
        "event_id": str(uuid.uuid4()),
        "ts": (datetime.now(UTC) - timedelta(minutes=1)).isoformat(),
        "kind": "modify",
        "root": "projects",
        "path": "data/sales.csv",
    }
    event.update(overrides)
    return event


def make_batch(events: list[Any], sent_at: datetime | None = None) -> dict[str, Any]:
    """A telemetry body."""
    return {"sent_at": (sent_at or datetime.now(UTC)).isoformat(), "events": events}


def jwt_headers(settings: Settings, user: str, **kwargs: Any) -> dict[str, str]:
    """``Authorization`` headers with a person's JWT for ``user`` (see ``floyo.auth.issue_jwt``)."""
    return {"Authorization": f"Bearer {issue_jwt(settings, user=user, **kwargs)}"}


def stored_events(engine: Engine, user_id: int) -> list[dict[str, Any]]:
    """A user's stored events as dicts, in (ts, seq) order, straight from the table."""
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT *, kind::text AS kind FROM events WHERE user_id = :u ORDER BY ts, seq"), {"u": user_id}
        )
        return [dict(row._mapping) for row in rows]


def count_events(engine: Engine, event_ids: list[str]) -> int:
    """How many rows the events table holds for these event ids (across every partition and user)."""
    with engine.connect() as conn:
        return int(
            conn.execute(
                text("SELECT count(*) FROM events WHERE event_id = ANY(CAST(:ids AS uuid[]))"), {"ids": event_ids}
            ).scalar_one()
        )
