"""Reading a user's events back: filtered keyset pages and streamed exports (CSV, Parquet)."""

from __future__ import annotations

import base64
import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import psycopg
from sqlalchemy import Engine

from floyo.db.scoping import scope_to_user
from floyo.errors import InvalidInput

EXPORT_COLUMNS = (
    "seq", "event_id", "ts", "client_ts", "skew_ms", "received_at", "device", "kind", "root", "path", "ext",
    "dest_path", "tool", "exit_code", "duration_ms", "meta",
)  # fmt: skip
_SELECT = (
    "SELECT e.seq, e.event_id, e.ts, e.client_ts, e.skew_ms, e.received_at, d.name AS device, e.kind::text, "
    "e.root, e.path, e.ext, e.dest_path, e.tool, e.exit_code, e.duration_ms, e.meta "
    "FROM events e LEFT JOIN devices d ON d.id = e.device_id "
)


@dataclass(frozen=True, slots=True)
class EventFilter:
    """Which of a user's events to read."""

    user_id: int
    since: datetime | None = None
    until: datetime | None = None
    kinds: tuple[str, ...] = ()
    ext: str | None = None
    root: str | None = None


def as_utc(value: datetime) -> datetime:
    """A time without a zone is UTC (never the database session's zone)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def encode_cursor(ts: datetime, seq: int) -> str:
    """An opaque cursor pointing just after the event (ts, seq)."""
    return base64.urlsafe_b64encode(orjson.dumps([ts.isoformat(), seq])).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    """The (ts, seq) of a cursor; InvalidInput when it was not made by ``encode_cursor``."""
    try:
        ts, seq = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        return as_utc(datetime.fromisoformat(ts)), int(seq)
    except (ValueError, TypeError, OverflowError, orjson.JSONDecodeError) as exc:
        raise InvalidInput("invalid_cursor", "the cursor is not one this API returned") from exc


def _where(f: EventFilter) -> tuple[str, dict[str, Any]]:
    clauses = ["e.user_id = %(user_id)s"]
    params: dict[str, Any] = {"user_id": f.user_id}
    if f.since is not None:
        clauses.append("e.ts >= %(since)s")
        params["since"] = as_utc(f.since)
    if f.until is not None:
        clauses.append("e.ts < %(until)s")
        params["until"] = as_utc(f.until)
    if f.kinds:
        clauses.append("e.kind::text = ANY(%(kinds)s)")
        params["kinds"] = list(f.kinds)
    if f.ext is not None:
        clauses.append("e.ext = %(ext)s")
        params["ext"] = f.ext.lower().lstrip(".")
    if f.root is not None:
        clauses.append("e.root = %(root)s")
        params["root"] = f.root
    return " AND ".join(clauses), params


def _as_dict(row: tuple[Any, ...]) -> dict[str, Any]:
    return dict(zip(EXPORT_COLUMNS, row, strict=True))


def list_events(
    engine: Engine, f: EventFilter, *, limit: int, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of events in (ts, seq) order and the cursor of the next page (None at the end)."""
    where, params = _where(f)
    if cursor:
        params["c_ts"], params["c_seq"] = decode_cursor(cursor)
        where += " AND (e.ts, e.seq) > (%(c_ts)s, %(c_seq)s)"
    params["limit"] = limit + 1
    raw = engine.raw_connection()
    try:
        conn: psycopg.Connection[Any] = raw.driver_connection  # type: ignore[assignment]
        scope_to_user(conn, f.user_id)
        rows = conn.execute(_SELECT + f"WHERE {where} ORDER BY e.ts, e.seq LIMIT %(limit)s", params).fetchall()
        conn.rollback()
    finally:
        raw.close()
    page = [_as_dict(r) for r in rows[:limit]]
    next_cursor = encode_cursor(rows[limit - 1][2], rows[limit - 1][0]) if len(rows) > limit else None
    return page, next_cursor


def iter_event_rows(engine: Engine, f: EventFilter, *, chunk: int = 20_000) -> Iterator[list[tuple[Any, ...]]]:
    """Every matching event in (ts, seq) order, in chunks, through a server-side cursor."""
    where, params = _where(f)
    raw = engine.raw_connection()
    try:
        conn: psycopg.Connection[Any] = raw.driver_connection  # type: ignore[assignment]
        scope_to_user(conn, f.user_id)
        with conn.cursor(name="floyo_export") as cur:
            cur.itersize = chunk
            cur.execute(_SELECT + f"WHERE {where} ORDER BY e.ts, e.seq", params)
            while rows := cur.fetchmany(chunk):
                yield rows
        conn.rollback()
    finally:
        raw.close()


def _csv_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return orjson.dumps(value).decode()
    return value


def export_csv(chunks: Iterator[list[tuple[Any, ...]]]) -> Iterator[bytes]:
    """CSV bytes (header first), one piece per chunk of rows."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(EXPORT_COLUMNS)
    yield buf.getvalue().encode()
    for rows in chunks:
        buf.seek(0)
        buf.truncate()
        writer.writerows([_csv_value(v) for v in row] for row in rows)
        yield buf.getvalue().encode()


def export_parquet(chunks: Iterator[list[tuple[Any, ...]]]) -> Iterator[bytes]:
    """Parquet bytes, one row group per chunk of rows, streamed as they are written."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([
        ("seq", pa.int64()), ("event_id", pa.string()), ("ts", pa.timestamp("us", tz="UTC")),
        ("client_ts", pa.timestamp("us", tz="UTC")), ("skew_ms", pa.int64()),
        ("received_at", pa.timestamp("us", tz="UTC")), ("device", pa.string()), ("kind", pa.string()),
        ("root", pa.string()), ("path", pa.string()), ("ext", pa.string()), ("dest_path", pa.string()),
        ("tool", pa.string()), ("exit_code", pa.int32()), ("duration_ms", pa.int64()), ("meta", pa.string()),
    ])  # fmt: skip
    sink = _StreamSink()
    with pq.ParquetWriter(sink, schema, compression="zstd") as writer:
        for rows in chunks:
            columns = list(zip(*rows, strict=True))
            columns[1] = tuple(str(v) for v in columns[1])
            columns[15] = tuple(None if v is None else orjson.dumps(v).decode() for v in columns[15])
            writer.write_table(
                pa.Table.from_arrays(
                    [pa.array(c, t) for c, t in zip(columns, schema.types, strict=True)], schema=schema
                )
            )
            yield sink.drain()
    yield sink.drain()


class _StreamSink(io.RawIOBase):
    """A write-only file that hands out what was written so far while keeping the true offset."""

    def __init__(self) -> None:
        super().__init__()
        self._parts: list[bytes] = []
        self._offset = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self._parts.append(chunk)
        self._offset += len(chunk)
        return len(chunk)

    def tell(self) -> int:
        return self._offset

    def drain(self) -> bytes:
        data, self._parts = b"".join(self._parts), []
        return data
