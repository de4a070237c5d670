"""Users as the models meet them: ids in the lake, names in PostgreSQL (``--user`` takes either)."""

from __future__ import annotations

from floyo.errors import NotFound
from floyo.settings import Settings


def resolve_user(user: str, settings: Settings) -> int:
    """A user's id from their name (or an id given as digits)."""
    from sqlalchemy import text

    from floyo.db import get_engine

    with get_engine().connect() as conn:
        found = conn.execute(text("SELECT id FROM users WHERE name = :n"), {"n": user}).scalar()
    if found is not None:
        return int(found)
    if user.isdigit():
        return int(user)
    raise NotFound("no_such_user", f"no user named {user!r}")


def user_names() -> dict[str, str]:
    """User id (as text, as the models key users) → name from PostgreSQL; empty when the database cannot be reached
    (ids are shown instead)."""
    from sqlalchemy import text
    from sqlalchemy.exc import SQLAlchemyError

    from floyo.db import get_engine

    try:
        with get_engine().connect() as conn:
            return {str(i): n for i, n in conn.execute(text("SELECT id, name FROM users"))}
    except SQLAlchemyError:
        return {}
