"""Per-request user scoping: reads run as the ``floyo_user`` role so that PostgreSQL's RLS policies apply."""

from __future__ import annotations

from typing import Any

import psycopg

USER_ROLE = "floyo_user"


def scope_to_user(conn: psycopg.Connection[Any], user_id: int) -> None:
    """For the rest of the current transaction, see only ``user_id``'s rows in per-user tables."""
    conn.execute(f"SET LOCAL ROLE {USER_ROLE}")
    conn.execute("SELECT set_config('app.user_id', %s, true)", (str(user_id),))
