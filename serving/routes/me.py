"""GET /api/v1/me: who the token belongs to (cheap: the benchmark's baseline)."""

from __future__ import annotations

from pydantic import BaseModel

from ingest.deps import RequestScope, ScopedConn, protected_router
from ingest.responses import OrjsonResponse

router = protected_router(tags=["me"])


class Me(BaseModel):
    """The caller: user name, device name (null for a person's JWT), admin or not."""

    user: str
    device: str | None
    is_admin: bool


def _device_name(scope: RequestScope) -> str | None:
    device_id = scope.principal.device_id
    if device_id is None:
        return None
    row = scope.conn.execute("SELECT name FROM devices WHERE id = %s", (device_id,)).fetchone()
    return None if row is None else str(row[0])


@router.get("/api/v1/me", response_model=Me)
def me(scope: ScopedConn) -> OrjsonResponse:
    """The authenticated caller (device token or JWT)."""
    p = scope.principal
    return OrjsonResponse({"user": p.user_name, "device": _device_name(scope), "is_admin": p.is_admin})
