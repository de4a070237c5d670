"""Reading a request body within limits: content type, encoding and size are checked before parsing."""

from __future__ import annotations

import zlib

from fastapi import Request

from floyo.errors import MalformedRequest, PayloadTooLarge, UnsupportedMediaType


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge("body_too_large", f"the body exceeds {limit} bytes", {"limit_bytes": limit})


def _check_headers(request: Request, limit: int) -> str:
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json":
        raise UnsupportedMediaType("unsupported_media_type", "send the body as 'Content-Type: application/json'")
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("identity", "gzip"):
        raise UnsupportedMediaType("unsupported_encoding", "Content-Encoding must be identity or gzip")
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise _too_large(limit)
    return encoding


async def read_json_body(request: Request, limit: int) -> bytes:
    """The (decompressed) JSON body, refused with 413/415/400 before it can cost more than ``limit`` bytes."""
    encoding = _check_headers(request, limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    body = b"".join(chunks)
    if encoding == "gzip":
        body = _gunzip(body, limit)
    return body


_GZIP_MAGIC = b"\x1f\x8b"


def _gunzip(data: bytes, limit: int) -> bytes:
    """Exactly one gzip member with nothing after it: anything else would be read in part and the rest ignored."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        body = inflater.decompress(data, limit + 1)
    except zlib.error as exc:
        raise MalformedRequest("malformed_gzip", f"the gzip body cannot be decompressed: {exc}") from exc
    if len(body) > limit or inflater.unconsumed_tail:
        raise _too_large(limit)
    if not inflater.eof:
        raise MalformedRequest("malformed_gzip", "the gzip body is truncated")
    rest = inflater.unused_data
    if rest.startswith(_GZIP_MAGIC):
        raise UnsupportedMediaType(
            "gzip_multiple_members", "the gzip body has more than one member; send the whole body as one member"
        )
    if rest:
        raise MalformedRequest(
            "malformed_gzip",
            f"the gzip body has {len(rest)} bytes of trailing data after its end",
            {"bytes": len(rest)},
        )
    return body
