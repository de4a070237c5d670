"""What every page shares: the session's API and token, cached reads, and the way errors are shown."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import streamlit as st

from app_streamlit.client import DEFAULT_API, ApiError, call

CACHE_TTL_S = 30  # short: the pages show fresh data, and a button clears it at once anyway
T = TypeVar("T")


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:])")


def escape_md(text: str) -> str:
    """Text shown as itself in Markdown: a glob's ``*``, a ``$`` or a ``:`` never turns into emphasis, maths or an
    icon (titles and paths come from people's folders and file names)."""
    return _MD_SPECIAL.sub(r"\\\1", text)


def api_url() -> str:
    """The API the dashboard reads (``floyo dashboard --api`` sets FLOYO_DASHBOARD_API)."""
    return os.environ.get("FLOYO_DASHBOARD_API") or DEFAULT_API


def token() -> str:
    """The signed-in token (the entry page sends anyone without one to the sign-in page)."""
    return str(st.session_state.get("token", ""))


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def _cached_get(base_url: str, tok: str, path: str, params: tuple[tuple[str, Any], ...]) -> Any:
    return call(base_url, tok, "GET", path, params=list(params))


def get(path: str, **params: Any) -> Any:
    """A cached GET of the API (None-valued parameters are left out; lists repeat the parameter)."""
    pairs: list[tuple[str, Any]] = []
    for key, value in params.items():
        if value is None:
            continue
        pairs += [(key, v) for v in value] if isinstance(value, list | tuple) else [(key, value)]
    return _cached_get(api_url(), token(), path, tuple(pairs))


def change(method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    """A POST/PATCH/DELETE: never cached, and every cached read is dropped after it."""
    try:
        return call(api_url(), token(), method, path, json=body)
    finally:
        _cached_get.clear()


def load(what: str, fetch: Callable[[], T]) -> T | None:
    """Run ``fetch`` under a spinner; on an API error show it as a message and return None."""
    try:
        with st.spinner(f"Loading {what}…"):
            return fetch()
    except ApiError as exc:
        st.error(f"Could not load {what}. {exc}")
        return None


def flash(message: str) -> None:
    """A message shown once, on the next run of the page (after ``st.rerun``)."""
    st.session_state["flash"] = message


def show_flash() -> None:
    message = st.session_state.pop("flash", None)
    if message:
        st.success(message)


def ago(iso: str | None, now: datetime | None = None) -> str:
    """'3 min ago' for an ISO time; 'never' for None."""
    if not iso:
        return "never"
    return duration(((now or datetime.now(UTC)) - datetime.fromisoformat(iso)).total_seconds()) + " ago"


def duration(seconds: float) -> str:
    """'3 min', '2 h', '5 d' (rounded to the largest unit)."""
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f} {unit}"
    return f"{max(seconds, 0):.0f} s"
