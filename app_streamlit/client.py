"""Floyo's HTTP API as the dashboard uses it: a token, a base URL, and errors as sentences (never tracebacks)."""

from __future__ import annotations

from typing import Any

import httpx

DEFAULT_API = "http://127.0.0.1:8000"
TIMEOUT_S = 10.0


class ApiError(Exception):
    """A call to the API failed; ``str()`` says what happened and what to do."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def _message(response: httpx.Response) -> str:
    try:
        error = response.json().get("error", {})
        text = str(error.get("message") or error.get("code") or "")
    except (ValueError, AttributeError):
        text = ""
    return text or response.text[:200] or response.reason_phrase


def call(base_url: str, token: str, method: str, path: str, **kwargs: Any) -> Any:
    """One request; the JSON answer, or ``ApiError`` whose text a person can act on."""
    try:
        response = httpx.request(
            method, f"{base_url.rstrip('/')}{path}", headers={"Authorization": f"Bearer {token}"},
            timeout=TIMEOUT_S, **kwargs,
        )  # fmt: skip
    except httpx.TransportError as exc:
        raise ApiError(
            f"The Floyo API at {base_url} does not answer ({type(exc).__name__}): start it with `floyo serve` "
            "or point the dashboard at it with `floyo dashboard --api URL`."
        ) from None
    if response.status_code == 401:
        raise ApiError(f"The token was refused: {_message(response)}. Sign in again with a valid token.", 401)
    if response.status_code == 403:
        raise ApiError(f"Not allowed: {_message(response)}.", 403)
    if response.status_code >= 400:
        raise ApiError(f"The API answered {response.status_code}: {_message(response)}.", response.status_code)
    if response.status_code == 204 or not response.content:
        return None
    return response.json()
