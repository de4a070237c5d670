"""The streamed export: CSV and Parquet read back equal the stored rows."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import polars as pl
import pyarrow.parquet as pq

from ingest.queries import EXPORT_COLUMNS
from tests.utils.factories import make_batch, make_event, stored_events

URL = "/api/v1/telemetry"
EXPORT = "/api/v1/events/export"


def _seed(client, device) -> None:
    base = datetime(2024, 2, 27, tzinfo=UTC)  # spans a month boundary: two partitions
    events = []
    for i in range(30):
        ts = (base + timedelta(hours=7 * i, microseconds=i)).isoformat()
        if i % 5 == 0:
            events.append(make_event(ts=ts, kind="run", path="", tool="pytest", exit_code=i % 3, duration_ms=10 * i))
        elif i % 5 == 1:
            events.append(make_event(ts=ts, kind="move", path=f"a/{i}.md", dest_path=f"b/{i}.md"))
        else:
            events.append(make_event(ts=ts, path=f'd/"quoted", {i}.csv', meta={"i": i, "s": "é,\n"}))
    body = client.post(URL, json=make_batch(events), headers=device.headers).json()
    assert body["accepted"] == 30


def _expected(engine, device) -> list[dict[str, Any]]:
    rows = stored_events(engine, device.user_id)
    assert len(rows) == 30
    return [{**{k: r[k] for k in EXPORT_COLUMNS if k != "device"}, "device": device.device} for r in rows]


def test_csv_export_round_trip(client, device, engine):
    _seed(client, device)
    answer = client.get(EXPORT + "?format=csv", headers=device.headers)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    read = list(csv.DictReader(io.StringIO(answer.text)))
    assert tuple(read[0]) == EXPORT_COLUMNS
    expected = _expected(engine, device)
    assert len(read) == len(expected)
    for got, want in zip(read, expected, strict=True):
        assert int(got["seq"]) == want["seq"]
        assert got["event_id"] == str(want["event_id"])
        for key in ("ts", "client_ts", "received_at"):
            assert datetime.fromisoformat(got[key]) == want[key]
        assert int(got["skew_ms"]) == want["skew_ms"]
        for key in ("device", "kind", "root", "path", "ext"):
            assert got[key] == want[key]
        for key in ("dest_path", "tool"):
            assert got[key] == (want[key] or "")
        for key in ("exit_code", "duration_ms"):
            assert got[key] == ("" if want[key] is None else str(want[key]))
        assert (orjson.loads(got["meta"]) if got["meta"] else None) == want["meta"]


def test_parquet_export_round_trip(client, device, engine):
    _seed(client, device)
    answer = client.get(EXPORT + "?format=parquet", headers=device.headers)
    assert answer.status_code == 200
    table = pq.read_table(io.BytesIO(answer.content))
    assert tuple(table.column_names) == EXPORT_COLUMNS
    got = table.to_pylist()
    expected = _expected(engine, device)
    for row in expected:
        row["event_id"] = str(row["event_id"])
        row["meta"] = None if row["meta"] is None else orjson.dumps(row["meta"]).decode()
    assert got == expected
    frame = pl.read_parquet(io.BytesIO(answer.content))
    assert frame.height == 30
    assert frame["seq"].is_sorted() or frame.sort(["ts", "seq"])["seq"].to_list() == frame["seq"].to_list()


def test_exports_apply_filters_and_handle_no_rows(client, device):
    _seed(client, device)
    runs = pq.read_table(io.BytesIO(client.get(EXPORT + "?format=parquet&kind=run", headers=device.headers).content))
    assert runs.num_rows == 6
    assert set(runs.column("kind").to_pylist()) == {"run"}
    march = list(
        csv.DictReader(io.StringIO(client.get(EXPORT + "?since=2024-03-01T00:00:00Z", headers=device.headers).text))
    )
    assert march
    assert all(datetime.fromisoformat(r["ts"]) >= datetime(2024, 3, 1, tzinfo=UTC) for r in march)
    empty = client.get(EXPORT + "?format=parquet&root=nowhere", headers=device.headers)
    assert pq.read_table(io.BytesIO(empty.content)).num_rows == 0
    empty_csv = client.get(EXPORT + "?root=nowhere", headers=device.headers).text
    assert empty_csv.splitlines() == [",".join(EXPORT_COLUMNS)]


def test_export_needs_a_token(client):
    answer = client.get(EXPORT)
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "missing_token"


def test_exports_in_many_chunks_equal_one_chunk(client, device, engine):
    """Several row groups (and CSV pieces) stream the same rows as one."""
    from floyo.db.scoping import scoped_connection
    from ingest.queries import EventFilter, export_csv, export_parquet, iter_event_rows

    _seed(client, device)
    f = EventFilter(user_id=device.user_id)
    with scoped_connection(engine, device.user_id) as scoped:
        conn = scoped.conn
        small = pq.read_table(io.BytesIO(b"".join(export_parquet(iter_event_rows(conn, f, chunk=7)))))
        whole = pq.read_table(io.BytesIO(b"".join(export_parquet(iter_event_rows(conn, f)))))
        groups = pq.ParquetFile(io.BytesIO(b"".join(export_parquet(iter_event_rows(conn, f, chunk=7))))).num_row_groups
        assert groups == 5
        assert small.equals(whole)
        assert b"".join(export_csv(iter_event_rows(conn, f, chunk=7))) == b"".join(export_csv(iter_event_rows(conn, f)))
