"""Per-request user scoping: requests run as the ``floyo_user`` role so that PostgreSQL's RLS policies apply."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from sqlalchemy import Engine

USER_ROLE = "floyo_user"


# set_config('role', ..., true) is SET LOCAL ROLE, checked the same way; one statement, one round trip.
_SCOPE_SQL = "SELECT set_config('role', %s, true), set_config('app.user_id', %s, true)"


def as_request_role(conn: psycopg.Connection[Any]) -> None:
    """For the rest of the current transaction, act as ``floyo_user`` with no user: no per-user row is visible."""
    conn.execute(_SCOPE_SQL, (USER_ROLE, ""))


def scope_to_user(conn: psycopg.Connection[Any], user_id: int) -> None:
    """For the rest of the current transaction, see only ``user_id``'s rows in per-user tables."""
    conn.execute(_SCOPE_SQL, (USER_ROLE, str(user_id)))


class ScopedConnection:
    """A psycopg connection whose every transaction runs as ``floyo_user``, scoped to one user (or none yet).

    ``commit`` and ``rollback`` start the next transaction scoped the same way, so code that must end a
    transaction halfway (a claim that lost a race, a partition created in its own transaction) stays scoped.
    """

    def __init__(self, conn: psycopg.Connection[Any], user_id: int | None = None) -> None:
        self.conn = conn
        self.user_id = user_id
        self._apply()

    def _apply(self) -> None:
        if self.user_id is None:
            as_request_role(self.conn)
        else:
            scope_to_user(self.conn, self.user_id)

    def switch_to(self, user_id: int) -> None:
        """Scope the current and later transactions to ``user_id`` (after authentication, or an admin's choice)."""
        self.user_id = user_id
        self.conn.execute("SELECT set_config('app.user_id', %s, true)", (str(user_id),))

    def commit(self) -> None:
        """Commit, then scope the next transaction."""
        self.conn.commit()
        self._apply()

    def rollback(self) -> None:
        """Roll back, then scope the next transaction."""
        self.conn.rollback()
        self._apply()

    def close(self, *, commit: bool) -> None:
        """End the transaction (the role and ``app.user_id`` end with it: the connection goes back clean)."""
        if commit:
            self.conn.commit()
        else:
            self.conn.rollback()


@contextmanager
def scoped_connection(engine: Engine, user_id: int | None = None) -> Iterator[ScopedConnection]:
    """A pooled connection as ``floyo_user`` (scoped to ``user_id`` when given), committed when the block ends."""
    raw = engine.raw_connection()
    try:
        scoped = ScopedConnection(raw.driver_connection, user_id)  # type: ignore[arg-type]
        try:
            yield scoped
        except BaseException:
            scoped.close(commit=False)
            raise
        scoped.close(commit=True)
    finally:
        raw.close()
