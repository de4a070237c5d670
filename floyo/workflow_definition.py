"""The workflow definition: what a person approves and the agent runs, modelled on Home Assistant's automations.

``{"name", "enabled", "mode", "max", "triggers", "conditions", "actions"}``. Validated strictly, because the agent
runs it on the person's machine: a command is an argv list (never a shell string), every path and ``cwd`` stays
inside the trigger's root (relative, no ``..``, no control characters), every list and string is bounded, and
placeholders are only the trigger's own (``{trigger.path}``, ``{trigger.name}``, ``{trigger.stem}``,
``{trigger.ext}``, ``{trigger.dir}``).

It lives in ``floyo`` because both sides check it: the server refuses a hostile definition with a 422, and the agent
(which imports nothing but ``floyo``) refuses it again before anything runs. ``definition_hash`` is what a person's
approval binds to.
"""

from __future__ import annotations

import hashlib
import re
from typing import Annotated, Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

MAX_PATH_CHARS = 1024
MAX_LIST = 20
PLACEHOLDERS = frozenset({"trigger.path", "trigger.name", "trigger.stem", "trigger.ext", "trigger.dir"})
FileEvent = Literal["create", "modify", "delete", "move"]

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
# minute, hour, day of month, month, day of week: numbers, ranges, lists and steps of 1 or more (no names)
_CRON_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
_CRON_PART = re.compile(r"^(\*|\d+(-\d+)?)(/[1-9]\d*)?$")
# a run action is an argv list; a shell given a script to interpret is a shell string by another name
SHELLS = frozenset({"sh", "bash", "zsh", "dash", "ksh", "fish", "csh", "tcsh", "cmd", "cmd.exe", "powershell", "pwsh"})
_SHELL_SCRIPT_FLAGS = frozenset({"-c", "/c", "/k", "-command", "-encodedcommand"})
_KEY_NAME = r"^[A-Za-z0-9_.-]{1,64}$"


def _placeholders_known(value: str, field: str) -> str:
    for name in _PLACEHOLDER.findall(value):
        if name not in PLACEHOLDERS:
            raise ValueError(f"{field}: unknown placeholder {{{name}}}; use one of {sorted(PLACEHOLDERS)}")
    return value


def inside_root(value: str, field: str = "path") -> str:
    """``value`` as a relative path that stays inside its root, or ValueError saying why not."""
    if not value:
        raise ValueError(f"{field} is empty")
    if _CONTROL.search(value):
        raise ValueError(f"{field} contains a control character")
    if "\\" in value:
        raise ValueError(f"{field} contains a backslash; use / between folders")
    if value.startswith(("/", "~")) or re.match(r"^[A-Za-z]:", value):
        raise ValueError(f"{field} must be relative to the root, not absolute: {value!r}")
    if ".." in value.split("/"):
        raise ValueError(f"{field} may not go up with '..': {value!r}")
    return _placeholders_known(value, field)


def _relative(field: str) -> Any:
    return Annotated[str, StringConstraints(max_length=MAX_PATH_CHARS), _RelativeCheck(field)]


class _RelativeCheck:
    """A pydantic after-validator that applies ``inside_root`` with the field's name in the message."""

    def __init__(self, field: str) -> None:
        self.field = field

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> Any:
        from pydantic_core import core_schema

        return core_schema.no_info_after_validator_function(lambda v: inside_root(v, self.field), handler(source))


RelPath = _relative("path")
RelGlob = _relative("glob")
Cwd = _relative("cwd")
Dest = _relative("dest")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FileTrigger(_Strict):
    """Files matching ``paths`` (globs relative to the agent's root named ``root``) had one of ``events``."""

    type: Literal["file"]
    root: Annotated[str, StringConstraints(min_length=1, max_length=256, pattern=r"^[^/\\\x00-\x1f]+$")]
    paths: list[RelGlob] = Field(min_length=1, max_length=MAX_LIST)  # type: ignore[valid-type]
    events: list[FileEvent] = Field(default_factory=lambda: list[FileEvent](["modify"]), min_length=1, max_length=4)
    debounce_ms: int = Field(default=2000, ge=0, le=600_000)


class ScheduleTrigger(_Strict):
    """A cron schedule (five numeric fields: minute hour day-of-month month day-of-week), in the person's time."""

    type: Literal["schedule"]
    cron: str = Field(max_length=100)

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        fields = value.split()
        if len(fields) != 5:
            raise ValueError(f"cron needs 5 fields (minute hour day month weekday), got {len(fields)}")
        for text, (low, high), name in zip(
            fields, _CRON_RANGES, ("minute", "hour", "day", "month", "weekday"), strict=True
        ):
            for part in text.split(","):
                if not _CRON_PART.match(part):
                    raise ValueError(f"cron {name} field {text!r} is not a number, range, list or step")
                for number in re.findall(r"\d+", part.split("/")[0]):
                    if not low <= int(number) <= high:
                        raise ValueError(f"cron {name} {number} is outside {low}-{high}")
        return value


class TimeWindow(_Strict):
    """Run only between ``after`` and ``before`` (HH:MM, the person's time; a window may wrap midnight)."""

    type: Literal["time_window"]
    after: str = "00:00"
    before: str = "23:59"
    weekdays: list[int] | None = Field(default=None, min_length=1, max_length=7)  # 0 = Monday

    @field_validator("after", "before")
    @classmethod
    def _hhmm(cls, value: str) -> str:
        if not _HHMM.match(value):
            raise ValueError(f"{value!r} is not a time of day as HH:MM")
        return value

    @field_validator("weekdays")
    @classmethod
    def _days(cls, value: list[int] | None) -> list[int] | None:
        if value is not None and any(not 0 <= d <= 6 for d in value):
            raise ValueError("weekdays are 0 (Monday) to 6 (Sunday)")
        return value


Arg = Annotated[str, StringConstraints(min_length=1, max_length=4096)]


class RunAction(_Strict):
    """Run a program: ``command`` is an argv list, never a shell string; it runs in ``cwd`` under the root.

    A suggested action names the tool only and sets ``args_from_history``: the agent fills in the arguments from
    the person's local history when they approve it (the server never knows them)."""

    type: Literal["run"]
    command: list[Arg] = Field(min_length=1, max_length=64)
    cwd: Cwd = "."  # type: ignore[valid-type]
    timeout_s: int = Field(default=300, ge=1, le=86_400)
    writes: list[RelGlob] = Field(default_factory=list, max_length=MAX_LIST)  # type: ignore[valid-type]
    args_from_history: bool = False

    @field_validator("command")
    @classmethod
    def _argv(cls, value: list[str]) -> list[str]:
        for arg in value:
            if _CONTROL.search(arg):
                raise ValueError("a command argument contains a control character")
            _placeholders_known(arg, "command")
        if value[0].startswith("{"):
            raise ValueError("the program itself cannot be a placeholder")
        if any(c.isspace() for c in value[0]):
            raise ValueError("the program name contains a space: give the program and each argument as list items")
        program = value[0].rsplit("/", 1)[-1].lower()
        if program in SHELLS and any(arg.lower() in _SHELL_SCRIPT_FLAGS for arg in value[1:]):
            raise ValueError(f"{program} with a script is a shell string: give the program and its arguments instead")
        return value


class MoveAction(_Strict):
    """Move the file that triggered to ``dest`` (under the same root)."""

    type: Literal["move"]
    dest: Dest  # type: ignore[valid-type]


class CopyAction(_Strict):
    """Copy the file that triggered to ``dest`` (under the same root): backups and syncs."""

    type: Literal["copy"]
    dest: Dest  # type: ignore[valid-type]


class NotifyAction(_Strict):
    """Show the person a desktop notification."""

    type: Literal["notify"]
    message: str = Field(min_length=1, max_length=1000)

    @field_validator("message")
    @classmethod
    def _message(cls, value: str) -> str:
        return _placeholders_known(value, "message")


class WebhookAction(_Strict):
    """POST the run's trigger as JSON to ``url``, retrying on failure. ``secret`` names a secret in the agent's
    local config (it signs the body); the secret itself never reaches the server, so a URL carrying credentials is
    refused."""

    type: Literal["webhook"]
    url: str = Field(min_length=8, max_length=2048)
    secret: Annotated[str, StringConstraints(pattern=_KEY_NAME)] | None = None
    retries: int = Field(default=3, ge=0, le=10)
    timeout_s: int = Field(default=10, ge=1, le=120)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        from urllib.parse import urlsplit

        if _CONTROL.search(value) or any(c.isspace() for c in value):
            raise ValueError("url contains a space or a control character")
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"url must be an http(s) URL with a host, got {value!r}")
        if parts.username or parts.password:
            raise ValueError("url carries credentials: name a secret of the agent's local config instead")
        return _placeholders_known(value, "url")


Trigger = Annotated[FileTrigger | ScheduleTrigger, Field(discriminator="type")]
Action = Annotated[RunAction | MoveAction | CopyAction | NotifyAction | WebhookAction, Field(discriminator="type")]


class WorkflowDefinition(_Strict):
    """A whole workflow, as stored, versioned and run."""

    name: str = Field(min_length=1, max_length=200)
    enabled: bool = True
    mode: Literal["single", "queued", "restart", "parallel"] = "single"
    max: int = Field(default=3, ge=1, le=50)  # concurrent (parallel) or waiting (queued) runs
    triggers: list[Trigger] = Field(min_length=1, max_length=MAX_LIST)
    conditions: list[TimeWindow] = Field(default_factory=list, max_length=MAX_LIST)
    actions: list[Action] = Field(min_length=1, max_length=MAX_LIST)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if _CONTROL.search(value):
            raise ValueError("name contains a control character")
        return value

    @model_validator(mode="after")
    def _file_actions_need_a_file(self) -> WorkflowDefinition:
        uses_file = any(isinstance(a, MoveAction | CopyAction) for a in self.actions)
        if uses_file and not any(isinstance(t, FileTrigger) for t in self.triggers):
            raise ValueError("move and copy act on the file that triggered: add a file trigger")
        return self


def validate_definition(data: Any) -> dict[str, Any]:
    """The definition as stored (defaults filled in), or pydantic's ValidationError."""
    return WorkflowDefinition.model_validate(data).model_dump(mode="json")


def definition_hash(definition: dict[str, Any]) -> str:
    """The SHA-256 of the validated definition in canonical JSON (sorted keys): what an approval binds to, so any
    change to what would run (a command, a path, a trigger) needs approving again. ``enabled`` is left out: the
    server disabling a workflow, or the person enabling it back, changes whether it runs, not what runs."""
    canonical = {k: v for k, v in validate_definition(definition).items() if k != "enabled"}
    return hashlib.sha256(orjson.dumps(canonical, option=orjson.OPT_SORT_KEYS)).hexdigest()
