"""The event schema, normalised once at the edge: UTC times, lower-case extensions, bounded sizes."""

from __future__ import annotations

import posixpath
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
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

PathStr = Annotated[str, Field(max_length=MAX_PATH_CHARS)]


def _no_nul(value: str | None, field: str) -> str | None:
    if value is not None and "\x00" in value:
        raise ValueError(f"{field} contains a NUL byte")
    return value


def _normalise_path(path: str) -> str:
    path = path.replace("\\", "/").lstrip("/")
    return path[2:] if path.startswith("./") else path


def extension_of(path: str) -> str:
    """Lower-case extension without the dot ('' for none): ``data/a.CSV`` -> ``csv``."""
    base = posixpath.basename(path)
    stem, dot, ext = base.rpartition(".")
    return ext.lower() if dot and stem else ""


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
    duration_ms: StrictInt | None = Field(default=None, ge=0, le=2**53)
    meta: dict[str, Any] | None = None

    @field_validator("ts")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    @field_validator("root", "path", "ext", "dest_path", "tool")
    @classmethod
    def _text(cls, value: str | None, info: Any) -> str | None:
        return _no_nul(value, info.field_name)

    @field_validator("meta")
    @classmethod
    def _small_meta(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is None:
            return None
        encoded = orjson.dumps(value)
        if len(encoded) > MAX_META_BYTES:
            raise ValueError(f"meta is {len(encoded)} bytes encoded, the limit is {MAX_META_BYTES}")
        if b"\\u0000" in encoded:
            raise ValueError("meta contains a NUL character")
        return value

    @model_validator(mode="after")
    def _normalise(self) -> Event:
        path = _normalise_path(self.path)
        if self.kind == "run":
            if not self.tool:
                raise ValueError("a run event needs a tool")
        elif not path:
            raise ValueError(f"a {self.kind} event needs a path")
        if self.kind == "move" and not self.dest_path:
            raise ValueError("a move event needs a dest_path")
        ext = extension_of(path) if self.ext is None else self.ext.lower().lstrip(".")
        object.__setattr__(self, "path", path)
        object.__setattr__(self, "ext", ext)
        if self.dest_path is not None:
            object.__setattr__(self, "dest_path", _normalise_path(self.dest_path))
        return self


def now_utc() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)
