"""Identities: device tokens for agents (stored hashed), JWT bearer tokens for people, the admin role."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import psycopg
from sqlalchemy import Connection, text

from floyo.errors import NotFound, Unauthorized
from floyo.settings import Settings

TOKEN_PREFIX = "floyo_"  # noqa: S105 - a public prefix, not a secret


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a user, through a device token (agents) or a JWT (people)."""

    user_id: int
    user_name: str
    is_admin: bool
    device_id: int | None = None


@dataclass(frozen=True, slots=True)
class DeviceToken:
    """A device's token as listed (never the secret itself)."""

    user: str
    device: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


def hash_token(token: str) -> bytes:
    """SHA-256 of a token: tokens carry 256 bits of randomness, so a slow hash adds nothing."""
    return hashlib.sha256(token.encode()).digest()


def new_token() -> str:
    """A fresh device token."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def ensure_user(conn: Connection, *, name: str, is_admin: bool = False) -> int:
    """The id of user ``name``, created if needed; ``is_admin`` only ever grants, never revokes."""
    row = conn.execute(
        text(
            "INSERT INTO users (name, is_admin) VALUES (:name, :admin) "
            "ON CONFLICT (name) DO UPDATE SET is_admin = users.is_admin OR EXCLUDED.is_admin RETURNING id"
        ),
        {"name": name, "admin": is_admin},
    ).one()
    return int(row.id)


def create_device_token(conn: Connection, *, user: str, device: str, is_admin: bool = False) -> str:
    """Create user and device if needed and give the device a new token (replacing any earlier one)."""
    user_id = ensure_user(conn, name=user, is_admin=is_admin)
    token = new_token()
    conn.execute(
        text(
            "INSERT INTO devices (user_id, name, token_hash, token_prefix) VALUES (:u, :d, :h, :p) "
            "ON CONFLICT (user_id, name) DO UPDATE SET token_hash = EXCLUDED.token_hash, "
            "token_prefix = EXCLUDED.token_prefix, created_at = now(), revoked_at = NULL"
        ),
        {"u": user_id, "d": device, "h": hash_token(token), "p": token[: len(TOKEN_PREFIX) + 6]},
    )
    return token


def ensure_device(conn: Connection, *, user: str, device: str) -> tuple[int, int]:
    """(user id, device id), creating both if needed; an existing device keeps its token."""
    user_id = ensure_user(conn, name=user)
    conn.execute(
        text(
            "INSERT INTO devices (user_id, name, token_hash, token_prefix) VALUES (:u, :d, :h, :p) "
            "ON CONFLICT (user_id, name) DO NOTHING"
        ),
        # an unusable token: nobody ever sees it; `floyo token create` gives the device a real one
        {"u": user_id, "d": device, "h": hash_token(new_token()), "p": "(none)"},
    )
    device_id = conn.execute(
        text("SELECT id FROM devices WHERE user_id = :u AND name = :d"), {"u": user_id, "d": device}
    ).scalar_one()
    return user_id, int(device_id)


def list_device_tokens(conn: Connection, *, user: str | None = None) -> list[DeviceToken]:
    """Every device token, or one user's, newest first."""
    rows = conn.execute(
        text(
            "SELECT u.name AS user, d.name AS device, d.token_prefix, d.created_at, d.last_used_at, "
            "d.revoked_at FROM devices d JOIN users u ON u.id = d.user_id "
            "WHERE CAST(:user AS text) IS NULL OR u.name = :user ORDER BY d.created_at DESC, d.id DESC"
        ),
        {"user": user},
    )
    return [DeviceToken(r.user, r.device, r.token_prefix, r.created_at, r.last_used_at, r.revoked_at) for r in rows]


def revoke_device_token(conn: Connection, *, user: str, device: str) -> None:
    """Revoke a device's token at once; raises NotFound when there is no such live token."""
    result = conn.execute(
        text(
            "UPDATE devices d SET revoked_at = now() FROM users u "
            "WHERE u.id = d.user_id AND u.name = :user AND d.name = :device AND d.revoked_at IS NULL"
        ),
        {"user": user, "device": device},
    )
    if result.rowcount == 0:
        raise NotFound("no_such_token", f"no live token for device {device!r} of user {user!r}")


def authenticate_device(conn: psycopg.Connection[Any], token: str) -> Principal:
    """The principal behind a device token; Unauthorized when unknown or revoked (``last_used_at`` to the minute).

    Runs as the request role before any user is known: the definer function reads the token's row only.
    """
    row = conn.execute("SELECT * FROM floyo_authenticate_device(%s)", (hash_token(token),)).fetchone()
    if row is None:
        raise Unauthorized("invalid_token", "the device token is unknown or revoked")
    device_id, user_id, name, is_admin = row
    return Principal(int(user_id), name, bool(is_admin), int(device_id))


def user_by_name(conn: psycopg.Connection[Any], name: str) -> Principal | None:
    """The user named ``name`` (None if there is none), readable by the request role through a definer function."""
    row = conn.execute("SELECT id, name, is_admin FROM floyo_user_by_name(%s)", (name,)).fetchone()
    return None if row is None else Principal(int(row[0]), row[1], bool(row[2]))


def issue_jwt(settings: Settings, *, user: str, ttl: timedelta = timedelta(hours=1)) -> str:
    """A signed HS256 JWT for a person (``sub`` = user name); for tools and tests."""
    now = datetime.now(UTC)
    claims: dict[str, Any] = {"sub": user, "iat": now, "exp": now + ttl}
    if settings.jwt_audience:
        claims["aud"] = settings.jwt_audience
    return jwt.encode(claims, settings.jwt_secret.get_secret_value(), algorithm="HS256")


def authenticate_jwt(conn: psycopg.Connection[Any], settings: Settings, token: str) -> Principal:
    """The principal behind a person's JWT; Unauthorized when invalid, expired or for an unknown user."""
    try:
        claims = jwt.decode(
            token,
            settings.jwt_secret.get_secret_value(),
            algorithms=["HS256"],
            audience=settings.jwt_audience,
            options={"require": ["sub", "exp"], "verify_aud": settings.jwt_audience is not None},
        )
    except jwt.ExpiredSignatureError as exc:
        raise Unauthorized("token_expired", "the bearer token has expired") from exc
    except jwt.PyJWTError as exc:
        raise Unauthorized("invalid_token", f"the bearer token is invalid: {exc}") from exc
    principal = user_by_name(conn, str(claims["sub"]))
    if principal is None:
        raise Unauthorized("unknown_user", "the bearer token's subject is not a Floyo user")
    return principal


def authenticate(conn: psycopg.Connection[Any], settings: Settings, authorization: str | None) -> Principal:
    """Resolve an ``Authorization`` header: device tokens start with ``floyo_``, anything else is a JWT."""
    if not authorization:
        raise Unauthorized("missing_token", "send 'Authorization: Bearer <token>'")
    scheme, _, credential = authorization.partition(" ")
    if scheme.lower() != "bearer" or not credential.strip():
        raise Unauthorized("bad_authorization", "the Authorization header must be 'Bearer <token>'")
    credential = credential.strip()
    if credential.startswith(TOKEN_PREFIX):
        return authenticate_device(conn, credential)
    return authenticate_jwt(conn, settings, credential)
