"""The models a serving process uses, loaded once and swapped without a restart when the registry moves.

A background task polls the ``champion`` aliases every ``FLOYO_MODEL_POLL_SECONDS``; when the ranker's alias
points at another version, that version is loaded beside the one in use and then one reference is replaced, so
a request in flight finishes with the ranker it started with and none fails. A registry that cannot be read
keeps what is loaded (or the transparent score) and says so in ``/health/readiness``.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, cast

from floyo.settings import Settings

log = logging.getLogger(__name__)

RANKER_MODEL = "floyo-ranker"
WORKFLOWS_MODEL = "floyo-workflows"


class RankerLike(Protocol):
    """What ranking needs of a ranker: one score per suggestion given the user's past answers, higher first."""

    def rank(self, suggestions: list[dict[str, Any]], history: list[dict[str, Any]]) -> list[float]: ...


@dataclass(frozen=True, slots=True)
class LoadedRanker:
    """A ranker version, loaded and ready."""

    name: str
    version: str
    model: RankerLike
    loaded_at: datetime


def _registry_exists(settings: Settings) -> bool:
    """False for a local SQLite store that was never created: no champion, and nothing is created by asking."""
    uri = settings.mlflow_tracking_uri
    return not uri.startswith("sqlite:///") or Path(uri.removeprefix("sqlite:///")).is_file()


def _champion_version(name: str) -> str | None:
    from models.tracking import champion_version

    return champion_version(name)


def _as_ranker(loaded: Any) -> RankerLike:
    """The object with ``rank`` inside a logged pyfunc: its python model, or that model's ``ranker``."""
    inner = loaded.unwrap_python_model() if hasattr(loaded, "unwrap_python_model") else loaded
    for candidate in (inner, getattr(inner, "ranker", None)):
        if callable(getattr(candidate, "rank", None)):
            return cast(RankerLike, candidate)
    raise TypeError(f"the {RANKER_MODEL} model has no rank(suggestions, history) method")


def load_ranker(version: str) -> LoadedRanker:
    """Version ``version`` of ``floyo-ranker`` from the registry."""
    from models.tracking import load

    return LoadedRanker(RANKER_MODEL, version, _as_ranker(load(RANKER_MODEL, version)), datetime.now(UTC))


class Champions:
    """The loaded ranker (None: the transparent score) and the workflows champion's version, kept current."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.ranker: LoadedRanker | None = None  # the one reference a swap replaces
        self.workflows_version: str | None = None
        self.error: str | None = None
        self.checked_at: datetime | None = None

    def refresh(self) -> bool:
        """Read the aliases; load and swap in a new ranker version. True when the ranker changed."""
        try:
            if not _registry_exists(self.settings):
                wanted, self.workflows_version = None, None
            else:
                wanted = _champion_version(RANKER_MODEL)
                self.workflows_version = _champion_version(WORKFLOWS_MODEL)
            current = self.ranker
            changed = (current.version if current else None) != wanted
            if changed:
                self.ranker = None if wanted is None else load_ranker(wanted)
                log.info("ranker champion now %s", wanted or "none (transparent score)")
            self.error = None
            return changed
        except Exception as exc:  # the registry is down or the model broken: keep serving what is loaded
            self.error = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
            log.warning("model registry check failed; keeping the loaded models: %s", self.error)
            return False
        finally:
            self.checked_at = datetime.now(UTC)

    async def poll(self) -> None:
        """Check the registry every ``model_poll_seconds`` until cancelled (never when the interval is 0)."""
        interval = self.settings.model_poll_seconds
        if interval <= 0:
            return
        while True:
            await asyncio.sleep(interval)
            await asyncio.to_thread(self.refresh)

    def describe(self) -> dict[str, Any]:
        """What ``/health/readiness`` reports: the versions served and the last check."""
        ranker = self.ranker
        return {
            "models": {
                RANKER_MODEL: None if ranker is None else ranker.version,
                WORKFLOWS_MODEL: self.workflows_version,
                "ranking": "transparent" if ranker is None else RANKER_MODEL,
                "checked_at": self.checked_at.isoformat() if self.checked_at else None,
                "error": self.error,
            }
        }
