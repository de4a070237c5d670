"""The `floyo` command through typer's CliRunner: tokens, the database, loading logs; one-line failures."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from floyo.cli import app
from floyo.db import get_engine, migrate, reset_engine
from floyo.settings import Settings, get_settings
from tests.utils.cli import assert_one_line_failure, invoke, runner
from tests.utils.db import migrated_scratch_database, scratch_database
from tests.utils.factories import make_batch, make_event

REPO = Path(__file__).resolve().parents[1]
SAMPLE_LOG = REPO / "data" / "samples" / "flask.events.csv.gz"


@pytest.fixture
def use_database(database_url: str, settings: Settings, monkeypatch: pytest.MonkeyPatch):
    """Point the CLI at another database for the rest of the test."""

    def use(url: str) -> None:
        monkeypatch.setenv("FLOYO_DATABASE_URL", url)
        get_settings.cache_clear()
        reset_engine()

    return use


@pytest.fixture
def fresh_database(database_url: str, use_database) -> Iterator[str]:
    """A migrated database of this test's own, for loads whose outcome depends on what is stored."""
    with migrated_scratch_database(database_url) as url:
        use_database(url)
        yield url
        reset_engine()


@pytest.fixture
def api(settings: Settings) -> Iterator[TestClient]:
    from ingest.app import create_app

    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


def _post(api: TestClient, token: str) -> int:
    answer = api.post(
        "/api/v1/telemetry", json=make_batch([make_event()]), headers={"Authorization": f"Bearer {token}"}
    )
    return int(answer.status_code)


def test_token_create_prints_the_token_alone_on_its_last_line_and_it_works(settings, api):
    result = invoke("token", "create", "--user", "cli-alice", "--device", "laptop")
    assert result.exit_code == 0, result.output
    token = result.stdout.strip().splitlines()[-1]
    assert token.startswith("floyo_")
    assert " " not in token
    assert result.stdout.strip() == token  # the token is all that goes to stdout: `TOKEN=$(floyo token create ...)`
    assert _post(api, token) == 200


def test_token_list_and_revoke(settings, api):
    token = invoke("token", "create", "--user", "cli-bob", "--device", "phone").stdout.strip()
    listed = invoke("token", "list", "--user", "cli-bob")
    assert listed.exit_code == 0
    (row,) = [line for line in listed.stdout.splitlines() if line.startswith("cli-bob")]
    assert "phone" in row
    assert row.endswith("live")
    assert token[:12] in row
    assert token not in listed.stdout

    revoked = invoke("token", "revoke", "--user", "cli-bob", "--device", "phone")
    assert revoked.exit_code == 0, revoked.output
    assert _post(api, token) == 401
    assert invoke("token", "list", "--user", "cli-bob").stdout.strip().splitlines()[-1].endswith("revoked")
    assert_one_line_failure(invoke("token", "revoke", "--user", "cli-bob", "--device", "phone"), "no live token")


def test_a_new_token_for_a_device_replaces_the_old_one(settings, api):
    old = invoke("token", "create", "--user", "cli-carol", "--device", "desk").stdout.strip()
    new = invoke("token", "create", "--user", "cli-carol", "--device", "desk").stdout.strip()
    assert old != new
    assert _post(api, old) == 401
    assert _post(api, new) == 200


def test_an_admin_token_reads_other_users_events(settings, api):
    user = invoke("token", "create", "--user", "cli-dave", "--device", "d").stdout.strip()
    admin = invoke("token", "create", "--user", "cli-root", "--device", "ops", "--admin").stdout.strip()
    assert _post(api, user) == 200
    answer = api.get("/api/v1/events?user=cli-dave", headers={"Authorization": f"Bearer {admin}"})
    assert answer.status_code == 200
    assert len(answer.json()["events"]) == 1


def test_bad_names_fail_in_one_line(settings):
    assert_one_line_failure(invoke("token", "create", "--user", "", "--device", "x"), "user name")
    assert_one_line_failure(invoke("token", "create", "--user", "u" * 201, "--device", "x"), "user name")


def test_db_status_migrate_and_a_database_behind_head(settings, database_url, use_database):
    head = migrate.head_revision()
    status = invoke("db", "status")
    assert status.exit_code == 0, status.output
    assert "database: external" in status.stdout
    assert f"revision: {head} (head {head})" in status.stdout
    assert "floyo db migrate" not in status.stdout
    with scratch_database(database_url) as scratch:
        use_database(scratch)
        behind = invoke("db", "status")
        assert behind.exit_code == 0
        assert f"revision: None (head {head}) - run: floyo db migrate" in behind.stdout
        migrated = invoke("db", "migrate")
        assert migrated.exit_code == 0, migrated.output
        assert f"at revision {head} (head {head})" in migrated.stdout
        down = invoke("db", "downgrade", "base")
        assert down.exit_code == 0, down.output
        assert "at revision None" in down.stdout


def test_an_unreachable_database_is_one_line(settings, use_database):
    use_database("postgresql://postgres@127.0.0.1:1/nothing?connect_timeout=2")
    assert_one_line_failure(invoke("db", "status"), "unreachable")
    assert_one_line_failure(invoke("token", "list"), "unreachable")


def test_ingest_file_loads_the_sample_and_a_second_load_is_all_duplicates(fresh_database):
    # 4 rows touch an editor backup (`fileuploads.rst~`) and a `.env` file: the server refuses those paths
    first = invoke("ingest", "file", str(SAMPLE_LOG))
    assert first.exit_code == 3, first.output
    assert "9246 rows from 869 users: 9242 accepted, 0 duplicate, 4 rejected" in first.stdout
    assert "4 of 9246 rows were rejected" in first.output
    second = invoke("ingest", "file", str(SAMPLE_LOG))
    assert "9246 rows from 869 users: 0 accepted, 9242 duplicate, 4 rejected" in second.stdout
    with get_engine().connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM events")).scalar_one() == 9242
        assert conn.execute(text("SELECT DISTINCT root FROM events")).scalars().all() == ["flask"]


def test_ingest_file_with_bad_rows_reports_them_stores_the_good_and_fails(fresh_database, tmp_path):
    log = tmp_path / "some.csv"
    log.write_text(
        "event_id,user_id,ts,path,ext,action,commit,is_bot\n"
        "a1,ann,2024-01-01T10:00:00Z,a.py,py,modified,c1,0\n"
        "a2,ann,2024-01-01T10:00:00Z,b.py,py,vanished,c1,0\n"
        "a3,ann,1990-01-01T10:00:00Z,c.py,py,modified,c1,0\n"
        "a4,ben,2024-01-02T10:00:00Z,d.py,py,created,c2,0\n"
    )
    result = invoke("ingest", "file", str(log), "--root", "work")
    assert_one_line_failure(result, "2 of 4 rows")
    assert "4 rows from 2 users: 2 accepted, 0 duplicate, 2 rejected" in result.stdout
    assert "line 3: kind" in result.stdout
    assert "line 4: ts" in result.stdout
    with get_engine().connect() as conn:
        assert sorted(conn.execute(text("SELECT path FROM events WHERE root = 'work'")).scalars()) == ["a.py", "d.py"]


def test_ingest_file_failures_are_one_line(settings, tmp_path):
    assert_one_line_failure(invoke("ingest", "file", str(tmp_path / "missing.csv")), "does not exist")
    assert_one_line_failure(invoke("ingest", "file", str(tmp_path)), "not a file")
    fake_gz = tmp_path / "fake.csv.gz"
    fake_gz.write_bytes(b"this is not gzip")
    assert_one_line_failure(invoke("ingest", "file", str(fake_gz)), "fake.csv.gz")
    truncated = tmp_path / "cut.csv.gz"
    truncated.write_bytes(
        gzip.compress(SAMPLE_LOG.read_bytes()[:0] + b"event_id,user_id,ts,path,ext,action,commit,is_bot\n" * 50)[:60]
    )
    assert_one_line_failure(invoke("ingest", "file", str(truncated)), "cut.csv.gz")
    header = tmp_path / "other.csv"
    header.write_text("a,b,c\n1,2,3\n")
    assert_one_line_failure(invoke("ingest", "file", str(header)), "lacks the columns")
    latin = tmp_path / "latin.csv"
    latin.write_bytes(
        b"event_id,user_id,ts,path,ext,action,commit,is_bot\nx,y,2024-01-01T00:00:00Z,caf\xe9.py,py,modified,c,0\n"
    )
    assert_one_line_failure(invoke("ingest", "file", str(latin)), "latin.csv")


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["serve"],
        ["db"],
        ["db", "migrate"],
        ["db", "status"],
        ["token", "create"],
        ["token", "list"],
        ["token", "revoke"],
        ["ingest", "file"],
        ["export"],
        ["retention"],
        ["demo-data"],
        ["features", "build"],
        ["job", "run"],
        ["train"],
    ],
)
def test_every_command_explains_itself(command):
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0
    assert "Usage" in result.stdout
    assert len(result.stdout) > 100


def test_the_parts_commands_are_all_registered_once():
    """Moving commands between parts (demo-data to the demo, export to ingest) kept every name, and only one."""
    import typer.main

    names = list(typer.main.get_group(app).commands)
    for name in ("serve", "demo", "demo-data", "stop", "export", "retention", "train", "evaluate", "features", "job"):
        assert name in names, (name, names)
    assert len(app.registered_commands) + len(app.registered_groups) == len(names)  # none shadowed by another


def test_retention_on_an_unreachable_database_is_one_line(settings, use_database, monkeypatch):
    monkeypatch.setenv("FLOYO_RETENTION_DAYS", "30")
    get_settings.cache_clear()
    use_database("postgresql://postgres@127.0.0.1:1/nowhere")
    assert_one_line_failure(invoke("retention", "--dry-run"), "unreachable")


def test_commands_on_a_database_never_migrated_say_so_in_one_line(settings, database_url, use_database, tmp_path):
    with scratch_database(database_url) as scratch:
        use_database(scratch)
        assert_one_line_failure(invoke("token", "create", "--user", "u", "--device", "d"), "floyo db migrate")
        assert_one_line_failure(invoke("token", "list"), "floyo db migrate")
        assert_one_line_failure(invoke("ingest", "file", str(SAMPLE_LOG)), "floyo db migrate")
        reset_engine()


def test_serve_with_an_unreachable_database_fails_in_one_line(settings, use_database):
    from tests.utils.server import free_port

    use_database("postgresql://postgres@127.0.0.1:1/nothing?connect_timeout=2")
    assert_one_line_failure(invoke("serve", "--port", str(free_port())), "unreachable")


def test_dashboard_with_a_bad_api_url_fails_in_one_line(settings):
    assert_one_line_failure(invoke("dashboard", "--api", "ftp://example.org"), "--api", "http")
