"""Loading CSV event logs through the ingest path: the real Flask log at full shape, and bad rows."""

from __future__ import annotations

import csv
import gzip
from collections import Counter
from datetime import datetime
from pathlib import Path

from sqlalchemy import text

from floyo.db import get_engine
from floyo.settings import get_settings
from ingest.csvlog import ACTION_TO_KIND, row_to_event
from ingest.loader import load_log_file
from ingest.validation import EXCLUDED_REASON

REPO = Path(__file__).resolve().parents[2]
SHARED_LOG = REPO.parent / "shared" / "data" / "flask.events.csv.gz"
SAMPLE_LOG = REPO / "data" / "samples" / "flask.events.csv.gz"


def flask_log() -> Path:
    """The shared real log when this checkout sits beside it, else the copy in the repo."""
    return SHARED_LOG if SHARED_LOG.exists() else SAMPLE_LOG


# the flask history touches an editor backup and a test app's .env: excluded at ingest (defence in depth)
EXCLUDED_FLASK_PATHS = {"docs/patterns/fileuploads.rst~", "tests/test_apps/.env"}


def test_the_real_log_loads_with_the_kinds_of_its_actions(fresh_database):
    path = flask_log()
    with gzip.open(path, "rt", newline="") as fh:
        every_row = list(csv.DictReader(fh))
    rows = [r for r in every_row if r["path"] not in EXCLUDED_FLASK_PATHS]
    assert len(every_row) - len(rows) == 4
    expected_kinds = Counter(ACTION_TO_KIND[r["action"]] for r in rows)
    engine = get_engine()

    summary = load_log_file(path, root="flask", engine=engine, settings=get_settings())

    assert (summary.read, summary.accepted, summary.duplicates, summary.rejected) == (len(every_row), len(rows), 0, 4)
    assert all(reason.endswith(EXCLUDED_REASON) for reason in summary.reasons)
    assert summary.users == len({r["user_id"] for r in every_row})
    with engine.connect() as conn:
        kinds = {k: n for k, n in conn.execute(text("SELECT kind::text, count(*) FROM events GROUP BY 1"))}
        users = conn.execute(text("SELECT count(DISTINCT user_id) FROM events")).scalar_one()
        first, last = conn.execute(text("SELECT min(ts), max(ts) FROM events")).one()
        per_user_sql = "SELECT u.name, count(*) FROM events e JOIN users u ON u.id = e.user_id GROUP BY 1"
        per_user = {name: n for name, n in conn.execute(text(per_user_sql))}
        sample = conn.execute(
            text("SELECT path, ext, root, meta FROM events WHERE event_id = :id"),
            {"id": row_to_event(rows[0], "flask")["event_id"]},
        ).one()
    assert kinds == dict(expected_kinds)
    assert users == len({r["user_id"] for r in rows})
    assert per_user == dict(Counter(r["user_id"] for r in rows))
    stamps = sorted(datetime.fromisoformat(r["ts"]) for r in rows)
    assert (first, last) == (stamps[0], stamps[-1])
    assert (sample.path, sample.ext, sample.root) == (rows[0]["path"], rows[0]["ext"], "flask")
    assert sample.meta["commit"] == rows[0]["commit"]


def _write_log(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["event_id", "user_id", "ts", "path", "ext", "action", "commit", "is_bot"])
        writer.writerows(rows)
    return path


def test_bad_rows_are_reported_with_their_line_and_good_rows_stored(fresh_database, tmp_path):
    log = _write_log(
        tmp_path / "mixed.csv",
        [
            ["e1", "alice", "2024-01-01T10:00:00Z", "a.py", "py", "modified", "c1", "0"],
            ["e2", "alice", "not-a-time", "b.py", "py", "modified", "c1", "0"],
            ["e3", "bob", "2024-01-02T10:00:00Z", "c.py", "py", "exploded", "c2", "0"],
            ["e4", "bob", "2024-01-02T10:00:00Z", "", "", "modified", "c2", "0"],
            ["e5", "bob", "2024-01-03T10:00:00Z", "d.md", "md", "created", "c3", "1"],
        ],
    )
    summary = load_log_file(log, root="mixed")
    assert (summary.read, summary.accepted, summary.rejected) == (5, 2, 3)
    assert len(summary.reasons) == 3
    assert [reason.split(":")[:2] for reason in summary.reasons] == [
        ["line 3", " ts"],
        ["line 4", " kind"],
        ["line 5", " a modify event needs a path"],
    ]
    with get_engine().connect() as conn:
        assert sorted(conn.execute(text("SELECT path FROM events")).scalars()) == ["a.py", "d.md"]


def test_loading_keeps_a_token_made_for_the_import_device(fresh_database, tmp_path):
    from tests.utils.factories import make_device

    log = _write_log(
        tmp_path / "one.csv", [["e1", "erin", "2024-01-01T10:00:00Z", "a.py", "py", "modified", "c1", "0"]]
    )
    erin = make_device(get_engine(), user="erin", device="import")
    assert load_log_file(log, root="one").accepted == 1
    from floyo.auth import authenticate_device
    from floyo.db.scoping import scoped_connection

    with scoped_connection(get_engine()) as scoped:  # as the request role, before any user is known
        assert authenticate_device(scoped.conn, erin.token).device_id == erin.device_id


def test_a_synthetic_csv_log_loads_without_rejections(fresh_database, tmp_path):
    from features.synth import generate
    from floyo.demo_data import write_csv

    data = generate(personas=3, days=3, seed=7)
    log = tmp_path / "synth.csv.gz"
    write_csv(data, log)
    summary = load_log_file(log, root="synth")
    assert (summary.read, summary.accepted, summary.rejected) == (data.n_events, data.n_events, 0)
    with get_engine().connect() as conn:
        rows = conn.execute(text("SELECT kind::text, count(*) FROM events GROUP BY 1")).all()
        kinds = {str(kind): int(count) for kind, count in rows}
        runs_without_tool = conn.execute(text("SELECT count(*) FROM events WHERE kind = 'run' AND tool IS NULL"))
        assert runs_without_tool.scalar_one() == 0
    expected = Counter(e["kind"] for u in data.users for e in u.events)
    assert kinds == dict(expected)
