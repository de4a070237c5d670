"""The lake's file side without a database: uuids as text, rows split by date, staged files."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from ingest.lake_files import LAKE_SCHEMA, by_date, parse_part, write_staged
from ingest.lake_read import as_lake_table, uuid_text


def test_uuid_text_matches_python_for_whole_and_sliced_arrays() -> None:
    rng = random.Random(7)
    ids = [uuid.UUID(int=rng.getrandbits(128)) for _ in range(1000)] + [uuid.UUID(int=0), uuid.UUID(int=2**128 - 1)]
    array = pa.array([u.bytes for u in ids], pa.binary(16))
    assert uuid_text(array).to_pylist() == [str(u) for u in ids]
    assert uuid_text(array.slice(333, 5)).to_pylist() == [str(u) for u in ids[333:338]]
    assert uuid_text(array.slice(0, 0)).to_pylist() == []


def test_driver_extension_types_become_the_lake_schema() -> None:
    ids = [uuid.uuid4() for _ in range(3)]
    columns = {f.name: pa.nulls(3, f.type) for f in LAKE_SCHEMA}
    columns["seq"] = pa.array([1, 2, 3], pa.int64())
    columns["event_id"] = pa.ExtensionArray.from_storage(pa.uuid(), pa.array([u.bytes for u in ids], pa.binary(16)))
    columns["meta"] = pa.ExtensionArray.from_storage(pa.json_(), pa.array(['{"a": 1}', None, "{}"]))
    table = as_lake_table(pa.table(columns))
    assert table.schema == LAKE_SCHEMA
    assert table["event_id"].to_pylist() == [str(u) for u in ids]
    assert table["meta"].to_pylist() == ['{"a": 1}', None, "{}"]


def _events(days: list[int]) -> pa.Table:
    """One row per entry of ``days`` (days after 2026-03-01, 23:30 UTC), seq 1, 2, ... in that order."""
    start = datetime(2026, 3, 1, 23, 30, tzinfo=UTC)
    ts = [start + timedelta(days=d, minutes=i) for i, d in enumerate(days)]
    return pa.table(
        {"seq": pa.array(range(1, len(days) + 1), pa.int64()), "ts": pa.array(ts, LAKE_SCHEMA.field("ts").type)}
    )


def test_rows_out_of_date_order_are_split_by_date_keeping_seq_order() -> None:
    table = _events([1, 1, 0, 1, 2, 0])  # a late event (seq 3) dated before the ones already there
    split = {day: rows["seq"].to_pylist() for day, rows in by_date(table)}
    assert split == {date(2026, 3, 1): [3, 6], date(2026, 3, 2): [1, 2, 4], date(2026, 3, 3): [5]}
    assert list(split) == sorted(split)
    in_order = {day: rows["seq"].to_pylist() for day, rows in by_date(_events([0, 0, 1, 2]))}
    assert in_order == {date(2026, 3, 1): [1, 2], date(2026, 3, 2): [3], date(2026, 3, 3): [4]}


def test_write_staged_writes_one_file_per_date_named_by_the_range(tmp_path: Path) -> None:
    staging = tmp_path / "_staging"
    written = write_staged(_events([1, 0, 1, 0, 1]), staging, 10, 20)
    assert sorted(p.relative_to(staging).as_posix() for p in written) == [
        "date=2026-03-01/part-000000000011-000000000020-0.parquet",
        "date=2026-03-02/part-000000000011-000000000020-0.parquet",
    ]
    assert all(parse_part(p.name) == (11, 20, False) for p in written)
    assert pq.read_table(staging / "date=2026-03-02").column("seq").to_pylist() == [1, 3, 5]
    assert sorted(p.name for p in staging.rglob("*")) == sorted(
        ["date=2026-03-01", "date=2026-03-02"] + [p.name for p in written]
    )
    assert write_staged(_events([]), tmp_path / "empty", 20, 30) == []
    assert not (tmp_path / "empty").exists()
