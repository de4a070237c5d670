"""Reading a user's events back: filtered keyset pages and streamed exports (CSV, Parquet)."""

from __future__ import annotations

import base64
import csv
import io
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import psycopg

from floyo import event_schema
from floyo.errors import InvalidInput
from floyo.event_schema import BY_NAME, arrow_type

# The API's columns come from the registry (floyo/event_schema.py); the device is given by its name.
_RENAMED = {"device_id": ("device", "d.name", "string")}  # name, expression, Arrow type
# the order the API has always had: the device right after the server's times (a new column goes last)
_API_COLUMNS = [c for c in event_schema.API_COLUMNS if c != "device_id"]
_API_COLUMNS.insert(_API_COLUMNS.index("received_at") + 1, "device_id")
API_COLUMNS: tuple[str, ...] = tuple(_API_COLUMNS)
EXPORT_COLUMNS: tuple[str, ...] = tuple(_RENAMED.get(c, (c,))[0] for c in API_COLUMNS)


def _api_expr(name: str) -> str:
    if name in _RENAMED:
        return f"{_RENAMED[name][1]} AS {_RENAMED[name][0]}"
    return f"e.{name}::text" if BY_NAME[name].pg_type == "event_kind" else f"e.{name}"


_SELECT = (
    f"SELECT {', '.join(_api_expr(c) for c in API_COLUMNS)} FROM events e LEFT JOIN devices d ON d.id = e.device_id "
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
    conn: psycopg.Connection[Any], f: EventFilter, *, limit: int, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of events in (ts, seq) order and the cursor of the next page (None at the end).

    ``conn`` is a request's scoped connection (``ingest.deps.ScopedConn``): RLS limits it to ``f.user_id``.
    """
    where, params = _where(f)
    if cursor:
        params["c_ts"], params["c_seq"] = decode_cursor(cursor)
        where += " AND (e.ts, e.seq) > (%(c_ts)s, %(c_seq)s)"
    params["limit"] = limit + 1
    rows = conn.execute(_SELECT + f"WHERE {where} ORDER BY e.ts, e.seq LIMIT %(limit)s", params).fetchall()
    page = [_as_dict(r) for r in rows[:limit]]
    next_cursor = encode_cursor(rows[limit - 1][2], rows[limit - 1][0]) if len(rows) > limit else None
    return page, next_cursor


def iter_event_rows(
    conn: psycopg.Connection[Any], f: EventFilter, *, chunk: int = 20_000
) -> Generator[list[tuple[Any, ...]], None, None]:
    """Every matching event in (ts, seq) order, in chunks, through a server-side cursor on a scoped connection."""
    where, params = _where(f)
    with conn.cursor(name="floyo_export") as cur:
        cur.itersize = chunk
        cur.execute(_SELECT + f"WHERE {where} ORDER BY e.ts, e.seq", params)
        while rows := cur.fetchmany(chunk):
            yield rows


def _csv_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return orjson.dumps(value).decode()
    return value


def export_csv(chunks: Iterator[list[tuple[Any, ...]]]) -> Generator[bytes, None, None]:
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


def export_parquet(chunks: Iterator[list[tuple[Any, ...]]]) -> Generator[bytes, None, None]:
    """Parquet bytes, one row group per chunk of rows, streamed as they are written."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    types = [_RENAMED[c][2] if c in _RENAMED else BY_NAME[c].arrow for c in API_COLUMNS]
    schema = pa.schema([(name, arrow_type(t)) for name, t in zip(EXPORT_COLUMNS, types, strict=True)])
    # uuid and jsonb arrive as Python objects (UUID, dict): Parquet gets their text, as the lake does
    text_of: dict[str, Callable[[Any], str]] = {"uuid": str, "jsonb": lambda v: orjson.dumps(v).decode()}
    as_text = [(i, text_of[t]) for i, c in enumerate(API_COLUMNS) if (t := BY_NAME[c].pg_type) in text_of]
    sink = _StreamSink()
    with pq.ParquetWriter(sink, schema, compression="zstd") as writer:
        for rows in chunks:
            columns = list(zip(*rows, strict=True))
            for i, text in as_text:
                columns[i] = tuple(None if v is None else text(v) for v in columns[i])
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
