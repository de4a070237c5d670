"""Identities: device tokens for agents (stored hashed), JWT bearer tokens for people, the admin role."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import ipaddress
import os
import secrets
import stat
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import psycopg
from sqlalchemy import Connection, text

from floyo.errors import NotFound, Unauthorized
from floyo.settings import MIN_SECRET_CHARS, Settings

TOKEN_PREFIX = "floyo_"  # noqa: S105 - a public prefix, not a secret
SECRET_FILE = "jwt_secret"  # noqa: S105 - a file name; in $FLOYO_DATA_DIR, when FLOYO_JWT_SECRET is unset
JWT_ALGORITHM = "HS256"


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


def jwt_key(settings: Settings) -> str:
    """The JWT signing secret: ``FLOYO_JWT_SECRET``, else the random one kept in the data directory.

    There is no built-in default: a secret in the public code would let anyone sign tokens for any user.
    """
    if settings.jwt_secret is not None:
        return settings.jwt_secret.get_secret_value()
    return _stored_secret(settings.data_dir.expanduser().resolve() / SECRET_FILE)


@functools.lru_cache(maxsize=8)
def _stored_secret(path: Path) -> str:
    """Read the secret at ``path``, creating it (mode 0600) on first use; workers starting together agree on one."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # written whole under a private name, then linked into place: a concurrent reader never sees it half done,
        # and of two processes racing, the first link wins and both read the winner's secret
        temp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(48) + "\n")
            with contextlib.suppress(FileExistsError):
                os.link(temp, path)
        finally:
            temp.unlink(missing_ok=True)
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ValueError(f"{path} is readable by others (mode {stat.S_IMODE(mode):o}): run `chmod 600 {path}`")
    secret = path.read_text().strip()
    if len(secret) < MIN_SECRET_CHARS:
        raise ValueError(f"{path} holds no usable secret ({MIN_SECRET_CHARS}+ characters): delete it to make a new one")
    return secret


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or ``localhost``) is reachable from this machine only."""
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def check_listen_address(settings: Settings, host: str) -> None:
    """Refuse to serve on a non-loopback address with a generated secret: others could reach a server whose
    secret lives in one data directory, which nobody configured or rotates (a ValueError, one line)."""
    if settings.jwt_secret is None and not is_loopback(host):
        raise ValueError(
            f"refusing to listen on {host} without FLOYO_JWT_SECRET: set it to a secret of {MIN_SECRET_CHARS}+ "
            "characters (e.g. `openssl rand -base64 48`), or listen on 127.0.0.1"
        )


def issue_jwt(settings: Settings, *, user: str, ttl: timedelta = timedelta(hours=1)) -> str:
    """A signed HS256 JWT for a person (``sub`` = user name); for tools and tests."""
    now = datetime.now(UTC)
    claims: dict[str, Any] = {"sub": user, "iat": now, "exp": now + ttl}
    if settings.jwt_audience:
        claims["aud"] = settings.jwt_audience
    if settings.jwt_issuer:
        claims["iss"] = settings.jwt_issuer
    return jwt.encode(claims, jwt_key(settings), algorithm=JWT_ALGORITHM)


def verify_jwt(settings: Settings, token: str) -> str:
    """The subject (user name) of a person's JWT, checked without the database; Unauthorized when invalid.

    Strict: HS256 only (no ``none``, no key confusion), ``exp`` and ``sub`` required, ``aud`` and ``iss`` checked
    when configured (and a token naming an audience refused when none is configured).
    """
    required = ["sub", "exp"]
    if settings.jwt_audience:
        required.append("aud")
    if settings.jwt_issuer:
        required.append("iss")
    try:
        claims = jwt.decode(
            token,
            jwt_key(settings),
            algorithms=[JWT_ALGORITHM],
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            options={"require": required, "verify_signature": True, "verify_exp": True, "verify_aud": True},
        )
    except jwt.ExpiredSignatureError as exc:
        raise Unauthorized("token_expired", "the bearer token has expired") from exc
    except jwt.PyJWTError as exc:
        raise Unauthorized("invalid_token", f"the bearer token is invalid: {exc}") from exc
    subject = claims["sub"]
    if not isinstance(subject, str) or not subject:
        raise Unauthorized("invalid_token", "the bearer token's subject must be a non-empty string")
    return subject


def principal_for_subject(conn: psycopg.Connection[Any], subject: str) -> Principal:
    """The user a verified JWT names; Unauthorized when there is no such user."""
    principal = user_by_name(conn, subject)
    if principal is None:
        raise Unauthorized("unknown_user", "the bearer token's subject is not a Floyo user")
    return principal


def authenticate_jwt(conn: psycopg.Connection[Any], settings: Settings, token: str) -> Principal:
    """The principal behind a person's JWT; Unauthorized when invalid, expired or for an unknown user."""
    return principal_for_subject(conn, verify_jwt(settings, token))


def bearer_credential(authorization: str | None) -> str:
    """The credential of an ``Authorization: Bearer`` header (no database); Unauthorized when absent or malformed."""
    if not authorization:
        raise Unauthorized("missing_token", "send 'Authorization: Bearer <token>'")
    scheme, _, credential = authorization.partition(" ")
    if scheme.lower() != "bearer" or not credential.strip():
        raise Unauthorized("bad_authorization", "the Authorization header must be 'Bearer <token>'")
    return credential.strip()


def is_device_token(credential: str) -> bool:
    """Device tokens start with ``floyo_``; anything else is a JWT."""
    return credential.startswith(TOKEN_PREFIX)


def authenticate(conn: psycopg.Connection[Any], settings: Settings, authorization: str | None) -> Principal:
    """Resolve an ``Authorization`` header: device tokens start with ``floyo_``, anything else is a JWT."""
    credential = bearer_credential(authorization)
    if is_device_token(credential):
        return authenticate_device(conn, credential)
    return authenticate_jwt(conn, settings, credential)
