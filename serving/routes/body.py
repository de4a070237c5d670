"""Request bodies of serving's routes: read within a size limit (ingest's reader), parsed, an object required."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from fastapi import Request

from floyo.errors import InvalidInput, MalformedRequest
from ingest.routes.body import read_json_body

MAX_BODY_BYTES = 1024 * 1024  # a workflow definition is bounded far below this; feedback is a few hundred bytes


def json_object(limit: int = MAX_BODY_BYTES) -> Callable[[Request], Awaitable[dict[str, Any]]]:
    """A dependency: the body as a JSON object, or 413/415/400/422 before it can cost more than ``limit`` bytes."""

    async def read(request: Request) -> dict[str, Any]:
        raw = await read_json_body(request, limit)
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:  # nesting past orjson's limit lands here too
            raise MalformedRequest("malformed_json", f"the body is not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise InvalidInput("invalid_request", "the body must be a JSON object")
        return data

    return read
