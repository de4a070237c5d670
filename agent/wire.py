"""Turning a decided event into the JSON the server takes: a fresh event id, UTC time, privacy applied."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from floyo.events import extension_of
from floyo.privacy import hash_path


class WireMaker:
    """Builds telemetry events; with a privacy key every path name is a keyed hash (extensions stay in clear)."""

    def __init__(self, privacy_key: bytes | None = None) -> None:
        self.key = privacy_key

    def _path(self, path: str) -> str:
        return hash_path(path, self.key) if self.key is not None and path else path

    def make(self, root: str, decided: dict[str, Any]) -> dict[str, Any]:
        """A telemetry event from a coalescer outcome or a recorded run."""
        event: dict[str, Any] = {
            "event_id": str(uuid.uuid4()),
            "ts": datetime.fromtimestamp(decided["wall"], UTC).isoformat(),
            "kind": decided["kind"],
            "root": root,
            "path": self._path(decided.get("path", "")),
            "ext": extension_of(decided.get("path", "")),
        }
        if decided.get("dest_path"):
            event["dest_path"] = self._path(decided["dest_path"])
        for key in ("tool", "exit_code", "duration_ms", "meta"):
            if decided.get(key) is not None:
                event[key] = decided[key]
        return event
