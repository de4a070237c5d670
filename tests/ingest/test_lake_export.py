"""The lake export against a real PostgreSQL and real files: exactly once, incremental, restartable, retention."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import polars as pl
import psycopg
import pyarrow.parquet as pq
import pytest
from sqlalchemy import text

from floyo.db import migrate, psycopg_conninfo
from floyo.errors import Conflict
from ingest.lake_export import READERS, export_lake, parse_part, read_watermark, recover
from ingest.lake_files import write_staged
from ingest.lake_read import APPLICATION_NAME, stream_range
from tests.features.helpers import LakeDB, days_ago, events_at, lake_db, lake_files, lake_seqs
from tests.utils.db import scratch_database
from tests.utils.factories import make_device


@pytest.fixture
def ldb(database_url: str, tmp_path: Path):
    with lake_db(database_url, tmp_path / "data") as db:
        yield db


def _watermark(db: LakeDB) -> int:
    with psycopg.connect(**psycopg_conninfo(db.url)) as conn:
        return read_watermark(conn)


def test_export_writes_every_event_once_by_date_and_is_incremental(ldb: LakeDB) -> None:
    lake = ldb.settings.lake_path
    ldb.ingest(events_at(days_ago(3), 40, step=timedelta(hours=2), path="data/a.csv"))
    first = export_lake(ldb.engine, ldb.settings, chunk_seqs=7)
    assert first.exported == 40
    assert lake_seqs(lake) == ldb.db_seqs()
    dates = {f.parent.name for f in lake_files(lake)}
    assert len(dates) >= 3
    assert all(d.startswith("date=") for d in dates)
    # one file per date after compaction, rows sorted by user then seq
    assert len(lake_files(lake)) == len(dates)

    again = export_lake(ldb.engine, ldb.settings)
    assert again.exported == 0
    assert again.files_written == 0
    ldb.ingest(events_at(days_ago(1), 5, path="src/b.py"))
    third = export_lake(ldb.engine, ldb.settings)
    assert third.exported == 5
    assert lake_seqs(lake) == ldb.db_seqs()
    assert len(ldb.db_seqs()) == 45
    assert _watermark(ldb) == max(ldb.db_seqs())


def test_lake_rows_round_trip_the_database_columns(ldb: LakeDB) -> None:
    ev = events_at(days_ago(2), 1, kind="run", path="", tool="pytest", exit_code=1, duration_ms=1234, meta={"a": 1})
    ev += events_at(days_ago(2), 1, kind="move", path="Downloads/x.PDF", dest_path="Papers/x.pdf")
    ev += events_at(days_ago(2), 1, path="Makefile")  # no extension: '' not null
    ldb.ingest(ev)
    export_lake(ldb.engine, ldb.settings)
    lake = pl.read_parquet(str(ldb.settings.lake_path / "events" / "*" / "*.parquet"), hive_partitioning=True)
    by_kind = {row["kind"]: row for row in lake.sort("seq").to_dicts()}
    assert by_kind["run"]["tool"] == "pytest"
    assert by_kind["run"]["exit_code"] == 1
    assert by_kind["run"]["duration_ms"] == 1234
    assert by_kind["run"]["meta"] == '{"a": 1}'
    assert by_kind["run"]["path"] == ""
    assert by_kind["run"]["dest_path"] is None
    assert by_kind["move"]["ext"] == "pdf"
    assert by_kind["move"]["dest_path"] == "Papers/x.pdf"
    assert by_kind["modify"]["ext"] == ""
    assert lake.schema["ts"] == pl.Datetime("us", "UTC")
    with ldb.engine.connect() as conn:
        db_ts = conn.execute(text("SELECT ts FROM events WHERE kind = 'move'")).scalar_one()
    assert by_kind["move"]["ts"] == db_ts
    assert str(by_kind["move"]["date"]) == db_ts.date().isoformat()
    with ldb.engine.connect() as conn:  # uuids travel in binary and are written as PostgreSQL's text
        db_ids = dict(conn.execute(text("SELECT seq, event_id::text FROM events")).tuples().all())
    assert dict(zip(lake["seq"].to_list(), lake["event_id"].to_list(), strict=True)) == db_ids


def test_in_flight_transaction_with_a_lower_seq_is_not_skipped(ldb: LakeDB) -> None:
    """A writer that drew a low seq but commits after a later writer must still reach the lake."""
    slow = make_device(ldb.engine)
    with psycopg.connect(**psycopg_conninfo(ldb.url)) as held:
        held.execute("SELECT floyo_ensure_event_partition(now()::date)")
        held.commit()
        held.execute(
            "INSERT INTO events (event_id, user_id, device_id, ts, client_ts, skew_ms, received_at, kind, root, path, ext)"
            " VALUES (gen_random_uuid(), %s, %s, now(), now(), 0, now(), 'modify', 'r', 'a.txt', 'txt')",
            (slow.user_id, slow.device_id),
        )  # seq drawn now, not committed
        ldb.ingest(events_at(days_ago(0.1), 3))  # higher seqs, committed first
        with pytest.raises(Conflict, match="in flight"):
            export_lake(ldb.engine, ldb.settings, lock_timeout_s=0.3)
        assert lake_seqs(ldb.settings.lake_path) == []
        assert _watermark(ldb) == 0
        held.commit()
    export_lake(ldb.engine, ldb.settings)
    assert lake_seqs(ldb.settings.lake_path) == ldb.db_seqs()
    assert len(ldb.db_seqs()) == 4


def _stage_crashed_run(db: LakeDB) -> list[Path]:
    """What an exporter killed after writing its staged files leaves: the whole range staged and fsynced."""
    horizon = max(db.db_seqs())
    staged = write_staged(
        stream_range(psycopg_conninfo(db.url), 0, horizon), db.settings.lake_path / "_staging", 0, horizon
    )
    assert staged
    return staged


def test_a_crash_before_the_watermark_commit_loses_and_duplicates_nothing(ldb: LakeDB) -> None:
    ldb.ingest(events_at(days_ago(3), 20, step=timedelta(hours=3)))
    staged = _stage_crashed_run(ldb)  # ... and died before committing the watermark
    result = export_lake(ldb.engine, ldb.settings, chunk_seqs=6)
    assert result.recovered_files == len(staged)  # uncommitted: deleted, then exported again
    assert result.exported == 20
    assert lake_seqs(ldb.settings.lake_path) == ldb.db_seqs()
    assert not (ldb.settings.lake_path / "_staging").exists()


def test_a_crash_between_the_watermark_commit_and_the_renames_loses_and_duplicates_nothing(ldb: LakeDB) -> None:
    ldb.ingest(events_at(days_ago(3), 20, step=timedelta(hours=3)))
    staged = _stage_crashed_run(ldb)
    with psycopg.connect(**psycopg_conninfo(ldb.url)) as conn:  # committed, then died before the renames
        conn.execute("UPDATE lake_export_state SET watermark = %s WHERE id = 1", (max(ldb.db_seqs()),))
    ldb.ingest(events_at(days_ago(1), 3))
    result = export_lake(ldb.engine, ldb.settings)
    assert result.recovered_files == len(staged)  # committed: moved into the lake, not exported again
    assert result.exported == 3
    assert lake_seqs(ldb.settings.lake_path) == ldb.db_seqs()
    assert len(ldb.db_seqs()) == 23


def test_readers_keep_their_connections_and_hold_no_transaction_between_ranges(ldb: LakeDB) -> None:
    ldb.ingest(events_at(days_ago(2), 40, step=timedelta(minutes=30)))
    seen: list[tuple[int, str]] = []

    def look(_lo: int, _hi: int, _rows: int) -> None:
        with psycopg.connect(**psycopg_conninfo(ldb.url), autocommit=True) as conn:
            seen.extend(
                conn.execute("SELECT pid, state FROM pg_stat_activity WHERE application_name = %s", (APPLICATION_NAME,))
            )

    assert export_lake(ldb.engine, ldb.settings, chunk_seqs=3, on_chunk=look).exported == 40
    assert seen
    assert len({pid for pid, _ in seen}) <= READERS  # one connection per reader for the whole run
    assert "idle in transaction" not in {state for _, state in seen}


def test_a_second_exporter_is_refused(ldb: LakeDB) -> None:
    from ingest.lake_export import EXPORT_LOCK_KEY

    with psycopg.connect(**psycopg_conninfo(ldb.url), autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(%s)", (EXPORT_LOCK_KEY,))
        with pytest.raises(Conflict, match="another export"):
            export_lake(ldb.engine, ldb.settings)


def test_full_reexport_rebuilds_the_same_lake(ldb: LakeDB) -> None:
    ldb.ingest(events_at(days_ago(5), 30, step=timedelta(hours=3)))
    export_lake(ldb.engine, ldb.settings, chunk_seqs=4)
    before = lake_seqs(ldb.settings.lake_path)
    result = export_lake(ldb.engine, ldb.settings, full=True, chunk_seqs=8)
    assert result.exported == 30
    assert result.watermark_before == 0
    assert lake_seqs(ldb.settings.lake_path) == before == ldb.db_seqs()


def test_recovery_moves_committed_staging_and_drops_the_rest(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    staged_ok = lake / "_staging" / "date=2026-01-02" / "part-000000000001-000000000010-0.parquet"
    staged_late = lake / "_staging" / "date=2026-01-02" / "part-000000000011-000000000020-0.parquet"
    above = lake / "events" / "date=2026-01-01" / "part-000000000021-000000000030-0.parquet"
    covered = lake / "events" / "date=2026-01-01" / "part-000000000001-000000000005-0.parquet"
    merged = lake / "events" / "date=2026-01-01" / "part-000000000001-000000000010-c.parquet"
    tmp = lake / "events" / "date=2026-01-01" / ".part-000000000001-000000000010-c.parquet.tmp"
    for f in (staged_ok, staged_late, above, covered, merged, tmp):
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(b"x")
    recover(lake, watermark=10)
    left = sorted(str(p.relative_to(lake)) for p in lake.rglob("*") if p.is_file())
    assert left == [
        "events/date=2026-01-01/part-000000000001-000000000010-c.parquet",
        "events/date=2026-01-02/part-000000000001-000000000010-0.parquet",
    ]
    assert parse_part("part-000000000001-000000000010-c.parquet") == (1, 10, True)
    assert parse_part("notes.txt") is None


def test_retention_deletes_old_events_from_database_and_lake(ldb: LakeDB) -> None:
    lake = ldb.settings.lake_path
    ldb.ingest(events_at(days_ago(500), 6, step=timedelta(hours=1)))  # a whole month beyond retention
    ldb.ingest(events_at(days_ago(366), 4, step=timedelta(hours=1)))  # just beyond
    ldb.ingest(events_at(days_ago(364), 3, step=timedelta(hours=1)))  # just within
    ldb.ingest(events_at(days_ago(1), 2))
    kept_ts = days_ago(365)
    no_retention = export_lake(ldb.engine, ldb.settings, retention=False)
    assert no_retention.exported == 15
    assert len(lake_seqs(lake)) == 15

    result = export_lake(ldb.engine, ldb.settings)
    assert result.retention_rows_deleted == 10
    assert result.retention_dates_deleted >= 2
    with ldb.engine.connect() as conn:
        oldest = conn.execute(text("SELECT min(ts) FROM events")).scalar_one()
        partitions = conn.execute(
            text("SELECT count(*) FROM pg_inherits WHERE inhparent = 'events'::regclass")
        ).scalar_one()
    assert oldest > kept_ts - timedelta(days=1)
    assert len(ldb.db_seqs()) == 5
    assert lake_seqs(lake) == ldb.db_seqs()
    assert partitions <= 3  # the month 500 days ago was dropped whole
    # ingest still works for a month whose partition retention dropped
    ldb.ingest(events_at(days_ago(2), 1))
    assert export_lake(ldb.engine, ldb.settings).exported == 1


def test_compaction_merges_small_files_of_a_date(ldb: LakeDB) -> None:
    when = days_ago(1).replace(hour=10)
    for i in range(4):
        ldb.ingest(events_at(when + timedelta(minutes=i * 10), 3, step=timedelta(seconds=30)))
        export_lake(ldb.engine, ldb.settings)
    files = lake_files(ldb.settings.lake_path)
    assert len(files) == 1
    assert parse_part(files[0].name) is not None
    assert parse_part(files[0].name)[2] is True  # type: ignore[index]
    assert pq.ParquetFile(files[0]).metadata.num_rows == 12
    assert lake_seqs(ldb.settings.lake_path) == ldb.db_seqs()


def test_migration_0002_down_and_up(database_url: str) -> None:
    with scratch_database(database_url) as url:
        migrate.upgrade(url, "0002")
        migrate.downgrade(url, "0001")
        with psycopg.connect(**psycopg_conninfo(url)) as conn:
            assert conn.execute("SELECT to_regclass('lake_export_state')").fetchone() == (None,)
        migrate.upgrade(url)
        with psycopg.connect(**psycopg_conninfo(url)) as conn:
            assert read_watermark(conn) == 0


def _run_export(db: LakeDB, rng: random.Random) -> int | None:
    """Start `floyo export` in a subprocess and SIGKILL it at a random point; None when it finished first."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "floyo", "export", "--chunk-seqs", str(rng.choice((10, 20, 35))), "--no-retention"],
        env={**os.environ, **db.env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert proc.stderr is not None
    for _ in range(rng.randint(0, 10)):  # let it commit a random number of chunks...
        if not proc.stderr.readline():
            break
    time.sleep(rng.uniform(0, 0.03))  # ...then kill it somewhere inside the next one
    proc.send_signal(signal.SIGKILL)
    code = proc.wait()
    proc.stderr.close()
    return code if code == -signal.SIGKILL else None


@pytest.mark.slow
def test_export_killed_at_random_points_keeps_every_event_exactly_once(ldb: LakeDB) -> None:
    from features.synth import generate

    rng = random.Random(20261125)
    data = generate(personas=6, days=20, seed=7)
    users = [(u, make_device(ldb.engine, user=u.name)) for u in data.users]
    kills = 0
    for round_ in range(8):
        for user, device in users:  # keep ingesting between kills: new seqs, old dates touched again
            part = user.events[round_::8]
            if part:
                ldb.ingest(part, device)
        if _run_export(ldb, rng) is not None:
            kills += 1
    final = subprocess.run(
        [sys.executable, "-m", "floyo", "export", "--no-retention"],
        env={**os.environ, **ldb.env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert final.returncode == 0, final.stderr
    assert kills >= 4
    seqs = lake_seqs(ldb.settings.lake_path)
    assert len(seqs) == len(set(seqs)) == data.n_events
    assert seqs == ldb.db_seqs()
    assert not (ldb.settings.lake_path / "_staging").exists()
    assert not list(ldb.settings.lake_path.rglob("*.tmp"))


def test_export_on_an_unmigrated_database_says_what_to_do(database_url: str, tmp_path: Path) -> None:
    from sqlalchemy import create_engine, pool

    from floyo.settings import Settings

    with scratch_database(database_url) as url:
        engine = create_engine(url, poolclass=pool.NullPool)
        try:
            with pytest.raises(Conflict, match="floyo db migrate"):
                export_lake(engine, Settings(env="test", database_url=url, data_dir=tmp_path))
        finally:
            engine.dispose()


def test_a_new_or_deleted_lake_is_exported_in_full_and_a_foreign_lake_refused(ldb: LakeDB, database_url: str) -> None:
    import shutil

    ldb.ingest(events_at(days_ago(2), 6))
    export_lake(ldb.engine, ldb.settings)
    moved = ldb.settings.model_copy(update={"lake_dir": ldb.settings.data_dir / "elsewhere"})
    assert export_lake(ldb.engine, moved).exported == 6  # the watermark was for the other lake
    shutil.rmtree(ldb.settings.lake_path)
    assert export_lake(ldb.engine, ldb.settings).exported == 6
    assert lake_seqs(ldb.settings.lake_path) == ldb.db_seqs()

    with lake_db(database_url, ldb.settings.data_dir.parent / "other") as other:
        other.ingest(events_at(days_ago(1), 2))
        export_lake(other.engine, other.settings)
        foreign = other.settings.model_copy(update={"lake_dir": ldb.settings.lake_path})
        with pytest.raises(Conflict, match="another database"):
            export_lake(other.engine, foreign)
        assert lake_seqs(ldb.settings.lake_path) == ldb.db_seqs()  # untouched
        assert export_lake(other.engine, foreign, full=True).exported == 2
        assert lake_seqs(ldb.settings.lake_path) == other.db_seqs()
