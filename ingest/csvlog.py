"""The CSV activity log format (``event_id,user_id,ts,path,ext,action,commit,is_bot``) mapped to Floyo events."""

from __future__ import annotations

import csv
import gzip
import io
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from floyo.errors import InvalidInput

SAMPLE_LOG_NAME = "flask.events.csv.gz"  # package data of ``floyo`` (``floyo/samples/``)

CSV_COLUMNS = ("event_id", "user_id", "ts", "path", "ext", "action", "commit", "is_bot")
ACTION_TO_KIND = {
    "created": "create", "modified": "modify", "deleted": "delete", "renamed": "move",
    "copied": "create", "typechanged": "modify",
}  # fmt: skip
# event ids in the log are 16 hex digits; Floyo's are UUIDs: derive them stably so re-loading deduplicates
_NAMESPACE = uuid.UUID("5a0b7c1e-3f43-4f0e-9a51-6c1d2f7e9b10")


@dataclass(frozen=True, slots=True)
class LogRow:
    """One row of the log as a Floyo event, with its author."""

    author: str
    is_bot: bool
    event: dict[str, Any]
    line: int = 0  # where the row ends in the file (1 is the header), for error messages


def sample_log() -> Path:
    """The sample log shipped with the package (9,246 file events of the Flask repository's history), found
    through the installed package, never relative to a checkout."""
    from importlib.resources import files

    return Path(str(files("floyo") / "samples" / SAMPLE_LOG_NAME))


def open_log(path: Path) -> io.TextIOBase:
    """Open a ``.csv`` or ``.csv.gz`` log as text."""
    if not path.exists():
        raise InvalidInput("no_such_file", f"{path} does not exist")
    if not path.is_file():
        raise InvalidInput("not_a_file", f"{path} is not a file")
    try:
        if path.suffix == ".gz":
            return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
        return open(path, encoding="utf-8", newline="")
    except OSError as exc:
        raise InvalidInput("unreadable_file", f"{path} cannot be read: {exc.strerror or exc}") from exc


def row_to_event(row: dict[str, str], root: str) -> dict[str, Any]:
    """Map one CSV row to the telemetry event format (validation happens in the ingest path).

    Optional columns after the standard eight (``kind``, ``tool``, ``dest_path``, ``root``, as written by
    ``floyo demo-data --out``) carry what the git-derived format cannot express.
    """
    kind = row.get("kind") or ACTION_TO_KIND.get(row.get("action") or "", row.get("action"))
    path = row.get("path") or ""
    commit = row.get("commit") or ""
    event: dict[str, Any] = {
        "event_id": str(uuid.uuid5(_NAMESPACE, row.get("event_id") or "")),
        "ts": row.get("ts"),
        "kind": kind,
        "root": row.get("root") or root,
        "path": path,
        "ext": row.get("ext") or "",
        "meta": {"source": "git" if commit else "log", "commit": commit, "is_bot": row.get("is_bot") == "1"},
    }
    if row.get("tool"):
        event["tool"] = row["tool"]
    if kind == "move":
        event["dest_path"] = row.get("dest_path") or path  # the git log keeps only the new path of a rename
    return event


def read_log(path: Path, root: str = "repo") -> Iterator[LogRow]:
    """Every row of a log, in file order; raises InvalidInput when the header is not the log format."""
    with open_log(path) as fh:
        reader = csv.DictReader(fh)
        try:
            missing = set(CSV_COLUMNS) - set(reader.fieldnames or ())
            if missing:
                raise InvalidInput("bad_log_header", f"{path} lacks the columns {sorted(missing)}")
            for row in reader:
                author = row.get("user_id") or "unknown"
                yield LogRow(author, row.get("is_bot") == "1", row_to_event(row, root), reader.line_num)
        except (OSError, EOFError, UnicodeDecodeError, csv.Error) as exc:  # bad gzip, truncated, not UTF-8, bad CSV
            raise InvalidInput("unreadable_log", f"{path}: cannot read line {reader.line_num + 1}: {exc}") from exc
