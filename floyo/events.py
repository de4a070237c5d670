"""The event schema, normalised once at the edge: UTC times, lower-case extensions, bounded sizes."""

from __future__ import annotations

import posixpath
import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, NamedTuple, cast
from uuid import UUID

import orjson
from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator, model_validator

EVENT_KINDS = ("open", "create", "modify", "delete", "move", "run")
EventKind = Literal["open", "create", "modify", "delete", "move", "run"]

MAX_PATH_CHARS = 4096
MAX_ROOT_CHARS = 256
MAX_EXT_CHARS = 32
MAX_TOOL_CHARS = 256
MAX_META_BYTES = 4096
INT32 = 2**31 - 1
MAX_DURATION_MS = 2**53

PathStr = Annotated[str, Field(max_length=MAX_PATH_CHARS)]


def _no_nul(value: str | None, field: str) -> str | None:
    if value is not None and "\x00" in value:
        raise ValueError(f"{field} contains a NUL byte")
    return value


# C0 and C1 controls and DEL: no file name needs them, and they forge log lines and terminal output
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_DRIVE = re.compile(r"[A-Za-z]:")  # a first component like C: (C:/x, ./C:/x) names a Windows drive
# an extension: letters or digits first, then those, '_', '+', '~' or '-' (css_t, c++, rst~); never '.', '/', space
_EXTENSION = re.compile(r"[^\W_][\w+~-]*")


def _normalise_path(path: str, field: str) -> str:
    """``path`` relative to its root with '/' separators and no empty or '.' components.

    Refused (a ValueError naming ``field``): control characters, absolute paths (/x, //host/x, C:/x) and '..'
    components, which would name something outside the root to whatever later reads the path from disk.
    """
    if _CONTROL.search(path):
        raise ValueError(f"{field}: control characters are not allowed in a path")
    path = path.replace("\\", "/")
    parts = [part for part in path.split("/") if part not in ("", ".")]
    if path.startswith("/") or (parts and _DRIVE.fullmatch(parts[0])):
        raise ValueError(f"{field}: {path[:64]!r} is absolute; send it relative to its root")
    if ".." in parts:
        raise ValueError(f"{field}: '..' components are not allowed (the path must stay inside its root)")
    return "/".join(parts)


def _extension(ext: str) -> str:
    """A client's extension, lower case without its leading dot; a ValueError when it is not an extension."""
    ext = ext.lower().removeprefix(".")
    if ext and not _EXTENSION.fullmatch(ext):
        raise ValueError(f"ext: {ext[:40]!r} is not an extension (letters and digits, then also _ + ~ -)")
    return ext


def extension_of(path: str) -> str:
    """Lower-case extension without the dot ('' for none): ``data/a.CSV`` -> ``csv``."""
    base = posixpath.basename(path)
    stem, dot, ext = base.rpartition(".")
    ext = ext.lower()
    # a "suffix" longer than any real extension (README.some-long-note), or with spaces, is not one
    return ext if dot and stem and len(ext) <= MAX_EXT_CHARS and _EXTENSION.fullmatch(ext) else ""


class Event(BaseModel):
    """One thing a person did, as the agent sends it."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    event_id: UUID
    ts: datetime
    kind: EventKind
    root: str = Field(min_length=1, max_length=MAX_ROOT_CHARS)
    path: PathStr = ""
    ext: str | None = Field(default=None, max_length=MAX_EXT_CHARS)
    dest_path: PathStr | None = None
    tool: str | None = Field(default=None, min_length=1, max_length=MAX_TOOL_CHARS)
    exit_code: StrictInt | None = Field(default=None, ge=-INT32, le=INT32)
    duration_ms: StrictInt | None = Field(default=None, ge=0, le=MAX_DURATION_MS)
    meta: dict[str, Any] | None = None

    @field_validator("ts")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return _as_utc(value)

    @field_validator("root", "path", "ext", "dest_path", "tool")
    @classmethod
    def _text(cls, value: str | None, info: Any) -> str | None:
        return _no_nul(value, info.field_name)

    @field_validator("meta")
    @classmethod
    def _small_meta(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None:
            _encoded_meta(value)
        return value

    @model_validator(mode="after")
    def _normalise(self) -> Event:
        path, ext, dest_path = _normalised_names(self.kind, self.path, self.ext, self.tool, self.dest_path)
        object.__setattr__(self, "path", path)
        object.__setattr__(self, "ext", ext)
        object.__setattr__(self, "dest_path", dest_path)
        return self


def _as_utc(value: datetime) -> datetime:
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError as exc:  # e.g. 9999-12-31T23:00-05:00 is past year 9999 in UTC
        raise ValueError("the time is out of range in UTC") from exc


def _encoded_meta(value: dict[str, Any]) -> bytes:
    try:
        encoded = orjson.dumps(value)
    except orjson.JSONEncodeError as exc:  # a TypeError: pydantic would let it escape as a 500
        raise ValueError(f"meta cannot be stored as JSON: {exc}") from exc
    if len(encoded) > MAX_META_BYTES:
        raise ValueError(f"meta is {len(encoded)} bytes encoded, the limit is {MAX_META_BYTES}")
    if b"\\u0000" in encoded:
        raise ValueError("meta contains a NUL character")
    return encoded


def _normalised_names(
    kind: str, path: str, ext: str | None, tool: str | None, dest_path: str | None
) -> tuple[str, str, str | None]:
    """What each kind needs, and the normalised path, extension and destination."""
    path = _normalise_path(path, "path")
    dest_path = None if dest_path is None else _normalise_path(dest_path, "dest_path")
    if kind == "run":
        if not tool:
            raise ValueError("a run event needs a tool")
    elif not path:
        raise ValueError(f"a {kind} event needs a path")
    if kind == "move" and not dest_path:
        raise ValueError("a move event needs a dest_path")
    ext = extension_of(path) if ext is None else _extension(ext)
    return path, ext, dest_path


class ValidEvent(NamedTuple):
    """An event as ``Event`` validates and normalises it, in plain values (what the ingest path stores)."""

    event_id: str  # canonical: lower-case, hyphenated
    ts: datetime  # the client's time, in UTC
    kind: str
    root: str
    path: str
    ext: str
    dest_path: str | None
    tool: str | None
    exit_code: int | None
    duration_ms: int | None
    meta: bytes | None  # encoded by orjson

    @classmethod
    def of(cls, event: Event) -> ValidEvent:
        """The plain values of a validated model."""
        meta = None if event.meta is None else orjson.dumps(event.meta)
        return cls(
            str(event.event_id), event.ts, event.kind, event.root, event.path, event.ext or "", event.dest_path,
            event.tool, event.exit_code, event.duration_ms, meta,
        )  # fmt: skip


# The fast path. Validating through the model costs about 6 µs an event, mostly in the Python
# validators above, which is a third of the API's CPU per event. ``fast_validate`` accepts only what it
# is sure the model accepts, in the shapes agents send (canonical UUID, ISO 8601 time with 'T'), and
# normalises through the same helpers; anything else returns None and goes through the model, which
# decides and explains. tests/ingest/test_fast_validation.py compares both on many generated events.
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_TIME = re.compile(
    r"20\d\d-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])T(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d{1,6})?"
    r"(?:Z|[+-](?:[01]\d|2[0-3]):[0-5]\d)?"
)
_KINDS = frozenset(EVENT_KINDS)


def _plain_text(value: Any, max_chars: int, min_chars: int = 0) -> bool:
    return type(value) is str and min_chars <= len(value) <= max_chars and "\x00" not in value


def _plain_int(value: Any, low: int, high: int) -> bool:
    return value is None or (type(value) is int and low <= value <= high)


def fast_validate(raw: Any) -> ValidEvent | None:
    """``ValidEvent.of(Event.model_validate(raw))`` for plainly valid events; None when the model must decide."""
    if type(raw) is not dict:
        return None
    get = raw.get
    event_id, ts, kind, root, path = get("event_id"), get("ts"), get("kind"), get("root"), get("path", "")
    ext, dest_path, tool, meta = get("ext"), get("dest_path"), get("tool"), get("meta")
    exit_code, duration_ms = get("exit_code"), get("duration_ms")
    if not (
        type(event_id) is str and _UUID.fullmatch(event_id) and type(ts) is str and _TIME.fullmatch(ts)
        and type(kind) is str and kind in _KINDS and _plain_text(root, MAX_ROOT_CHARS, 1)
        and _plain_text(path, MAX_PATH_CHARS)
        and (ext is None or _plain_text(ext, MAX_EXT_CHARS))
        and (dest_path is None or _plain_text(dest_path, MAX_PATH_CHARS))
        and (tool is None or _plain_text(tool, MAX_TOOL_CHARS, 1))
        and _plain_int(exit_code, -INT32, INT32) and _plain_int(duration_ms, 0, MAX_DURATION_MS)
        and (meta is None or (type(meta) is dict and all(type(k) is str for k in meta)))
    ):  # fmt: skip
        return None
    try:
        when = _as_utc(datetime.fromisoformat(ts))
        encoded = None if meta is None else _encoded_meta(meta)
        path, ext, dest_path = _normalised_names(kind, path, ext, tool, dest_path)
    except ValueError:
        return None
    root = cast(str, root)  # checked above
    return ValidEvent(event_id.lower(), when, kind, root, path, ext, dest_path, tool, exit_code, duration_ms, encoded)


def now_utc() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)
