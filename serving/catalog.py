"""The integration catalog (``serving/catalog.yaml``): what Floyo can suggest, as data validated at load.

A broken catalog raises ``CatalogError`` with one line naming the file, the entry and what is wrong; the server
refuses to start on it and ``floyo catalog check`` prints that line. Each entry's workflow templates are filled
with sample values at load and must pass ``validate_definition``, so a template that could never produce a valid
workflow is caught before any suggestion is built from it.
"""

from __future__ import annotations

import re
import string
from functools import cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from floyo.errors import FloyoError
from floyo.workflow_definition import validate_definition

CATALOG_PATH = Path(__file__).with_name("catalog.yaml")
TEMPLATE_IDS = (
    "run_on_save", "convert_on_change", "file_downloads", "backup_folder", "notify_long_run",
    "test_before_commit", "scheduled_job",
)  # fmt: skip
Shape = Literal["file_run", "file_run_file", "create_move", "file_copy", "run_run", "long_run", "schedule"]
RUN_SHAPES = frozenset({"file_run", "file_run_file", "run_run", "long_run", "schedule"})
# what serving/suggest.py fills in; a sample of each lets the load check every template for real
SAMPLE_VALUES: dict[str, Any] = {
    "root": "home", "glob": "thesis/*.tex", "folder": "thesis/", "ext": "tex", "events": ["modify"], "verb": "save",
    "verbed": "saved",
    "tool": "latexmk", "program": "latexmk", "cwd": ".", "timeout_s": 300, "delay": "20 s", "occurrences": 82,
    "days": 26, "output_glob": "thesis/*.pdf", "dest": "Papers", "then": "run rsync", "duration": "4 min",
    "duration_p90": "6 min", "commit_glob": ".git/COMMIT_EDITMSG", "every": "every day", "at": "02:00",
    "cron": "0 2 * * *", "active_days": 30,
}  # fmt: skip
_PLACEHOLDER = re.compile(r"\$(?:\{(\w+)\}|(\w+))")


class CatalogError(FloyoError):
    """The catalog cannot be used; the message is one line naming the entry."""


class Effort(BaseModel):
    """The person's own work per occurrence that the automation takes over, and where the number comes from."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    seconds: float = Field(gt=0, le=3600)
    source: str = Field(min_length=10, max_length=1000)


class SavingsTerms(BaseModel):
    """Which measured times count as saved: the delay before the person acts, the run's duration."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    delay: bool
    duration: bool


class Entry(BaseModel):
    """One kind of automation: the shapes it matches, how to word it and the workflow it creates."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str
    name: str = Field(min_length=1, max_length=100)
    shapes: list[Shape] = Field(min_length=1)
    tools: list[str] | None = None  # only runs of these (first word, or "tool subcommand")
    next_tools: list[str] | None = None  # run_run: the second run is one of these
    title: str = Field(min_length=1, max_length=200)
    description: str = Field(min_length=1, max_length=2000)
    effort: Effort
    savings: SavingsTerms
    workflow: dict[Shape, dict[str, Any]]

    @field_validator("id")
    @classmethod
    def _known_id(cls, value: str) -> str:
        if value not in TEMPLATE_IDS:
            raise ValueError(f"unknown template id {value!r}; the ids are {', '.join(TEMPLATE_IDS)}")
        return value

    @field_validator("title", "description")
    @classmethod
    def _known_placeholders(cls, value: str) -> str:
        _check_placeholders(value)
        return value

    @model_validator(mode="after")
    def _workflows_valid(self) -> Entry:
        if set(self.workflow) != set(self.shapes):
            raise ValueError(f"workflow needs one template per shape ({', '.join(self.shapes)})")
        for shape, template in self.workflow.items():
            for text in _strings(template):
                try:
                    _check_placeholders(text)
                except ValueError as exc:
                    raise ValueError(f"workflow {shape}: {exc}") from None
            try:
                validate_definition(fill(template, SAMPLE_VALUES))
            except ValidationError as exc:
                err = exc.errors()[0]
                where = ".".join(str(p) for p in err["loc"])
                raise ValueError(f"workflow {shape}: {where}: {err['msg']}") from None
        return self

    def matches(self, shape: str, tool: str | None, next_tool: str | None = None) -> bool:
        """Whether a pattern of ``shape`` (with its run's ``tool`` and, for run_run, ``next_tool``) fits."""
        if shape not in self.shapes:
            return False
        if self.tools is not None and shape in RUN_SHAPES and not _tool_in(tool, self.tools):
            return False
        return self.next_tools is None or _tool_in(next_tool, self.next_tools)

    def render(self, shape: str, values: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
        """Title, description and the validated workflow definition for a pattern's values."""
        texts = {k: str(v) for k, v in values.items()}
        title = str(_fill(self.title, values, texts))
        description = str(_fill(self.description, values, texts))
        return title, description, validate_definition(_fill(self.workflow[shape], values, texts))  # type: ignore[index]


class Catalog(BaseModel):
    """The whole catalog: entries in order, unique ids."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    entries: list[Entry]

    def get(self, template: str) -> Entry:
        """The entry with that id (KeyError if none)."""
        for entry in self.entries:
            if entry.id == template:
                return entry
        raise KeyError(template)

    def match(self, shape: str, tool: str | None, next_tool: str | None = None) -> Entry | None:
        """The entry for a pattern: one with a ``tools`` list first (more specific), else the first in order."""
        fits = [e for e in self.entries if e.matches(shape, tool, next_tool)]
        fits.sort(key=lambda e: e.tools is None)  # stable: catalog order within each group
        return fits[0] if fits else None

    def as_json(self) -> list[dict[str, Any]]:
        """The entries as GET /api/v1/catalog returns them."""
        return [e.model_dump(mode="json") for e in self.entries]


def _tool_in(tool: str | None, tools: list[str]) -> bool:
    if tool is None:
        return False
    return tool in tools or tool.split(" ", 1)[0] in tools


def _strings(template: Any) -> list[str]:
    """Every string in a (nested) template."""
    if isinstance(template, dict):
        return [s for v in template.values() for s in _strings(v)]
    if isinstance(template, list):
        return [s for v in template for s in _strings(v)]
    return [template] if isinstance(template, str) else []


def _check_placeholders(text: str) -> None:
    for braced, plain in _PLACEHOLDER.findall(text):
        name = braced or plain
        if name not in SAMPLE_VALUES:
            raise ValueError(f"unknown placeholder ${name}; known: {', '.join(sorted(SAMPLE_VALUES))}")


def fill(template: Any, values: dict[str, Any]) -> Any:
    """``template`` with its ``$placeholders`` filled: a string that is one placeholder takes the value itself."""
    return _fill(template, values, {k: str(v) for k, v in values.items()})


def _fill(template: Any, values: dict[str, Any], texts: dict[str, str]) -> Any:
    if isinstance(template, dict):
        return {k: _fill(v, values, texts) for k, v in template.items()}
    if isinstance(template, list):
        return [_fill(v, values, texts) for v in template]
    if isinstance(template, str):
        if "$" not in template:
            return template
        whole = _PLACEHOLDER.fullmatch(template)
        if whole:
            return values[whole.group(1) or whole.group(2)]
        return string.Template(template).substitute(texts)  # placeholders were checked at load
    return template


def load_catalog(path: Path | None = None) -> Catalog:
    """The catalog at ``path`` (default ``serving/catalog.yaml``), validated; ``CatalogError`` in one line if not."""
    path = path or CATALOG_PATH
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CatalogError("catalog_unreadable", f"catalog {path}: cannot be read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "not valid YAML"
        raise CatalogError("catalog_invalid", f"catalog {path.name}: not valid YAML{where}: {problem}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("entries"), list):
        raise CatalogError("catalog_invalid", f"catalog {path.name}: needs a top-level 'entries' list")
    seen: set[str] = set()
    for i, item in enumerate(raw["entries"]):
        name = item.get("id") if isinstance(item, dict) else None
        label = f"entry {name!r}" if isinstance(name, str) else f"entry #{i + 1}"
        try:
            Entry.model_validate(item)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"])
            message = str(err["msg"]).removeprefix("Value error, ")
            raise CatalogError(
                "catalog_invalid", f"catalog {path.name}: {label}: {where + ': ' if where else ''}{message}"
            ) from None
        if name in seen:
            raise CatalogError("catalog_invalid", f"catalog {path.name}: {label}: the id appears twice")
        seen.add(str(name))
    missing = [t for t in TEMPLATE_IDS if t not in seen]
    if missing:
        raise CatalogError("catalog_invalid", f"catalog {path.name}: no entry for {', '.join(missing)}")
    return Catalog.model_validate(raw)


@cache
def default_catalog() -> Catalog:
    """The packaged catalog, loaded and validated once per process."""
    return load_catalog()
