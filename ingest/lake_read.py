"""PostgreSQL -> Arrow for the export: seq ranges of ``events`` read by the ADBC PostgreSQL driver, which decodes
binary COPY into Arrow in C++ (no Python object per row), then put in the lake's schema.

docs/lake.md ("PostgreSQL -> Arrow", "Export vs COPY") says why this driver, why uuid and jsonb travel in binary,
and what each step costs.
"""

from __future__ import annotations

import threading
from types import TracebackType
from typing import Any

import numpy as np
import pyarrow as pa
from psycopg.conninfo import make_conninfo

from floyo import event_schema
from ingest.lake_files import LAKE_SCHEMA

APPLICATION_NAME = "floyo export"  # what pg_stat_activity shows for the export's connections
SELECT = event_schema.lake_select()


def _reader_uri(conninfo: dict[str, Any]) -> str:
    return make_conninfo(**{"application_name": APPLICATION_NAME, **conninfo})


def read_range(conn: Any, lo: int, hi: int) -> pa.Table:
    """Events with ``lo < seq <= hi`` as an Arrow table, read on an ADBC connection (binary COPY decoded in C++)."""
    import adbc_driver_manager

    with adbc_driver_manager.AdbcStatement(conn) as stmt:
        stmt.set_sql_query(f"SELECT {SELECT} FROM events WHERE seq > {int(lo)} AND seq <= {int(hi)}")
        stream, _ = stmt.execute_query()
        table = pa.RecordBatchReader._import_from_c(stream.address).read_all()
    return as_lake_table(table)


_HEX_PAIRS = np.frombuffer(b"".join(b"%02x" % i for i in range(256)), dtype=np.uint16)  # byte -> two hex digits
_UUID_GROUPS = ((0, 8, 0), (9, 13, 8), (14, 18, 12), (19, 23, 16), (24, 36, 20))  # (text from, to, hex digit from)


def uuid_text(array: pa.Array) -> pa.Array:
    """16-byte uuids (``fixed_size_binary(16)``, no nulls) as their canonical text, vectorised: 8-4-4-4-12
    lower-case hex digits."""
    n = len(array)
    raw = np.frombuffer(array.buffers()[1], dtype=np.uint8)[16 * array.offset : 16 * (array.offset + n)]
    digits = _HEX_PAIRS[raw.reshape(n, 16)].view(np.uint8).reshape(n, 32)
    text = np.full((n, 36), ord("-"), dtype=np.uint8)
    for start, stop, first in _UUID_GROUPS:
        text[:, start:stop] = digits[:, first : first + stop - start]
    offsets = np.arange(0, 36 * (n + 1), 36, dtype=np.int32)
    return pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(text)])


def _as_text(column: pa.ChunkedArray) -> pa.ChunkedArray:
    chunks = [c.storage if isinstance(c, pa.ExtensionArray) else c for c in column.chunks]
    if pa.types.is_fixed_size_binary(chunks[0].type if chunks else column.type):
        if any(c.null_count for c in chunks):
            raise ValueError("uuid_text takes no nulls")
        chunks = [uuid_text(c) for c in chunks]
    return pa.chunked_array(chunks, pa.string())


def as_lake_table(table: pa.Table) -> pa.Table:
    """The driver's table in the lake's schema: uuid and jsonb (Arrow extension types ``arrow.uuid``,
    ``arrow.json``) as text, without the driver's field metadata."""
    for i, f in enumerate(table.schema):
        if isinstance(f.type, pa.BaseExtensionType) or pa.types.is_fixed_size_binary(f.type):
            table = table.set_column(i, f.name, _as_text(table.column(i)))
    return table.cast(LAKE_SCHEMA)


def stream_range(conninfo: dict[str, Any], lo: int, hi: int) -> pa.Table:
    """``read_range`` on a connection of its own."""
    with Readers(conninfo) as readers:
        return readers.read(lo, hi)


class Readers:
    """The read-ahead threads' ADBC connections: each thread opens one on its first range and keeps it for the
    run, because a new connection costs a catalog query. ADBC's low-level API, not its DB-API module, which imports
    pandas and polars (0.25 s of every ``floyo export``'s start); in autocommit, ADBC's default, so no transaction
    (and no lock on ``events``) stays open between two ranges."""

    def __init__(self, conninfo: dict[str, Any]) -> None:
        self._uri = _reader_uri(conninfo)
        self._local = threading.local()
        self._open: list[Any] = []
        self._lock = threading.Lock()

    def read(self, lo: int, hi: int) -> pa.Table:
        """``read_range`` on this thread's connection."""
        import adbc_driver_manager
        import adbc_driver_postgresql  # type: ignore[import-untyped]

        conn = getattr(self._local, "conn", None)
        if conn is None:
            database = adbc_driver_postgresql.connect(self._uri)
            with self._lock:
                self._open.append(database)
            conn = self._local.conn = adbc_driver_manager.AdbcConnection(database)
            with self._lock:
                self._open.append(conn)
        return read_range(conn, lo, hi)

    def __enter__(self) -> Readers:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        for handle in reversed(self._open):  # connections, then databases; the pool's threads are done with them
            handle.close()
