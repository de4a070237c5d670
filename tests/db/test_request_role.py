"""The request role: what ``floyo_user`` may see and do, read from the catalog and tried for real."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from psycopg import sql
from sqlalchemy import make_url

from floyo.db import migrate
from floyo.db.engine import psycopg_conninfo
from floyo.db.scoping import as_request_role, scope_to_user, scoped_connection
from floyo.events import now_utc
from ingest.store import store_batch
from ingest.validation import validate_events
from tests.utils.db import _superuser, migrated_scratch_database, scratch_database
from tests.utils.factories import make_batch, make_device, make_event

# What floyo_user may do on each table, and nothing on any other (a new table gets no grant by accident).
REQUEST_PRIVILEGES = {
    "users": {"SELECT"},
    "devices": {"SELECT"},  # column-level, and never token_hash
    "events": {"SELECT", "INSERT"},
    "event_keys": {"SELECT", "INSERT"},
    "suggestions": {"SELECT", "UPDATE"},  # UPDATE of the state columns only
    "suggestion_feedback": {"SELECT", "INSERT"},
    "suggestion_state": {"SELECT", "UPDATE"},  # UPDATE of version only
    "workflows": {"SELECT", "INSERT", "UPDATE"},  # never DELETE: a deleted workflow keeps its history
    "workflow_versions": {"SELECT", "INSERT"},
    "patterns": {"SELECT"},  # the user's own rows and, once scoped to a user, the global ones; written by the job
    "pattern_activity": {"SELECT"},
    "workflow_approvals": {"SELECT", "INSERT"},  # a device's reports, append-only: the history of who approved what
    "workflow_outcomes": {"SELECT"},  # written by the job
}  # model_versions: no grant (no per-user data; only the CLI reads it, as the owner)
PER_USER_TABLES_0006 = ("suggestions", "suggestion_feedback", "suggestion_state", "workflows", "workflow_versions")
PER_USER_TABLES_0007 = ("patterns", "pattern_activity")
PER_USER_TABLES_0009 = ("workflow_approvals", "workflow_outcomes")
_PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER")

_TABLES_WITH_USER_ID = """
SELECT c.relname, c.relrowsecurity,
       array(SELECT p.polname FROM pg_policy p WHERE p.polrelid = c.oid
             AND p.polroles @> array[(SELECT oid FROM pg_roles WHERE rolname = 'floyo_user')]) AS policies
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition
  AND (c.relname = 'users' OR EXISTS (
      SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'user_id' AND NOT a.attisdropped))
ORDER BY 1
"""


@pytest.fixture
def conn(database_url: str) -> Iterator[psycopg.Connection[Any]]:
    """A connection as the test database's owner, rolled back at the end."""
    with psycopg.connect(**psycopg_conninfo(database_url)) as c:
        yield c
        c.rollback()


def _policed_tables(conn: psycopg.Connection[Any]) -> list[str]:
    """Every table with a user_id column, and ``users`` (keyed by id), as the catalog lists them."""
    return [r[0] for r in conn.execute(_TABLES_WITH_USER_ID)]


def test_the_database_owner_is_no_superuser(conn):
    """The suite runs as managed services do, so it catches what only a superuser could do."""
    row = conn.execute(
        "SELECT rolsuper, rolbypassrls, rolcreaterole FROM pg_roles WHERE rolname = current_user"
    ).fetchone()
    assert row == (False, False, True)
    owner = conn.execute(
        "SELECT pg_get_userbyid(datdba) = current_user FROM pg_database WHERE datname = current_database()"
    )
    assert owner.fetchone() == (True,)


def test_every_table_with_a_user_id_has_rls_and_policies_for_the_request_role(conn):
    """Walks the catalog: a future table with user_id but without RLS or a floyo_user policy fails here."""
    rows = conn.execute(_TABLES_WITH_USER_ID).fetchall()
    assert {r[0] for r in rows} >= {"devices", "events", "users"}
    for name, rls, policies in rows:
        assert rls, f"{name} has a user column but row level security is off"
        assert policies, f"{name} has row level security but no policy for floyo_user"


def _granted(conn: psycopg.Connection[Any], table: str) -> set[str]:
    """What floyo_user may do on ``table``, on the whole table or on any of its columns."""
    granted = set()
    for privilege in _PRIVILEGES:
        query = "SELECT has_table_privilege('floyo_user', %(t)s::regclass, %(p)s)"
        if privilege in ("SELECT", "INSERT", "UPDATE", "REFERENCES"):
            query += " OR has_any_column_privilege('floyo_user', %(t)s::regclass, %(p)s)"
        if conn.execute(query, {"t": f"public.{table}", "p": privilege}).fetchone() == (True,):
            granted.add(privilege)
    return granted


def test_the_request_role_has_exactly_the_grants_requests_need(conn):
    tables = [r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
    assert {"job_runs", "lake_export_state", "alembic_version"} <= set(tables)
    for table in tables:  # partitions included: reached only through events, never directly
        assert _granted(conn, table) == REQUEST_PRIVILEGES.get(table, set()), table
    token_hash = conn.execute("SELECT has_column_privilege('floyo_user', 'public.devices', 'token_hash', 'SELECT')")
    assert token_hash.fetchone() == (False,)


def test_definer_functions_are_locked_down(conn):
    rows = conn.execute(
        "SELECT proname, proconfig, pg_get_userbyid(proowner) = current_user, "
        "has_function_privilege('floyo_user', oid, 'EXECUTE'), "
        "EXISTS (SELECT 1 FROM aclexplode(proacl) a WHERE a.grantee = 0) "
        "FROM pg_proc WHERE prosecdef AND pronamespace = 'public'::regnamespace ORDER BY 1"
    ).fetchall()
    assert [r[0] for r in rows] == [
        "floyo_authenticate_device", "floyo_ensure_event_partition", "floyo_user_by_name",
    ]  # fmt: skip
    for name, config, owned, executable, public in rows:
        assert config == ["search_path=pg_catalog, public, pg_temp"], name
        assert (owned, executable, public) == (True, True, False), name


def test_without_app_user_id_the_request_role_sees_no_row(conn, engine, client):
    device = make_device(engine)
    client.post("/api/v1/telemetry", json=make_batch([make_event()]), headers=device.headers)
    tables = _policed_tables(conn)
    assert tables == sorted([
        "devices", "event_keys", "events", "users", *PER_USER_TABLES_0006, *PER_USER_TABLES_0007, *PER_USER_TABLES_0009,
    ])  # fmt: skip
    as_request_role(conn)
    for table in tables:
        column = "id" if table == "users" else "user_id"
        count = conn.execute(sql.SQL("SELECT count({}) FROM {}").format(sql.Identifier(column), sql.Identifier(table)))
        assert count.fetchone() == (0,), table


def test_with_app_user_id_the_request_role_sees_only_its_own_user(conn, engine):
    alice, bob = make_device(engine), make_device(engine)
    scope_to_user(conn, alice.user_id)
    # deliberately no WHERE clause: only the policies can restrict these
    assert conn.execute("SELECT id, name FROM users").fetchall() == [(alice.user_id, alice.user)]
    assert conn.execute("SELECT user_id, name FROM devices").fetchall() == [(alice.user_id, alice.device)]
    assert bob.user_id != alice.user_id


def test_event_keys_are_per_user_under_the_policy(conn, engine, client):
    """A user sees and claims only its own ids: another user's id neither shows nor blocks."""
    alice, bob = make_device(engine), make_device(engine)
    event = make_event()
    assert client.post("/api/v1/telemetry", json=make_batch([event]), headers=alice.headers).json()["accepted"] == 1
    scope_to_user(conn, bob.user_id)
    # deliberately no WHERE clause: only the policy can restrict this
    assert conn.execute("SELECT count(*) FROM event_keys").fetchone() == (0,)
    conn.execute("INSERT INTO event_keys (user_id, event_id) VALUES (%s, %s)", (bob.user_id, event["event_id"]))
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
        conn.execute("INSERT INTO event_keys (user_id, event_id) VALUES (%s, gen_random_uuid())", (alice.user_id,))
    conn.rollback()
    scope_to_user(conn, alice.user_id)
    assert conn.execute("SELECT user_id, event_id::text FROM event_keys").fetchall() == [
        (alice.user_id, event["event_id"])
    ]


def test_the_request_role_cannot_change_users_or_devices(conn, engine):
    alice = make_device(engine)
    scope_to_user(conn, alice.user_id)
    for statement in ("UPDATE users SET is_admin = true", "DELETE FROM devices", "SELECT token_hash FROM devices"):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(statement)
        conn.rollback()
        scope_to_user(conn, alice.user_id)


def test_storing_events_for_another_user_is_refused_by_the_policy(engine, settings):
    alice, bob = make_device(engine), make_device(engine)
    batch = validate_events([make_event()], sent_at=None, received_at=now_utc(), max_future=timedelta(hours=1))
    with (
        pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"),
        scoped_connection(engine, alice.user_id) as scoped,
    ):
        store_batch(scoped, batch, user_id=bob.user_id, device_id=bob.device_id)
    with scoped_connection(engine, bob.user_id) as scoped:
        assert scoped.conn.execute("SELECT count(*) FROM events").fetchone() == (0,)


def test_a_migrator_that_cannot_grant_the_request_role_gets_the_exact_grant_to_run(database_url):
    """An owner without CREATEROLE (nor ADMIN on floyo_user) cannot SET ROLE floyo_user: say what to run."""
    role = f"{make_url(database_url).database}_nogrant"
    with psycopg.connect(**_superuser(), autocommit=True) as su:  # type: ignore[arg-type]
        if not su.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone():
            su.execute(sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEROLE").format(sql.Identifier(role)))
        su.execute(sql.SQL("REVOKE floyo_user FROM {}").format(sql.Identifier(role)))
    owner_url = make_url(database_url).set(username=role, password=None).render_as_string(hide_password=False)
    with scratch_database(owner_url) as url:
        migrate.upgrade(url, "0004")
        with pytest.raises(Exception, match=f"an administrator must run: GRANT floyo_user TO {role};"):
            migrate.upgrade(url)


_SECURITY_STATE = """
SELECT c.relname, c.relrowsecurity, array(SELECT polname FROM pg_policy WHERE polrelid = c.oid ORDER BY 1),
       has_table_privilege('floyo_user', c.oid, 'SELECT'), has_table_privilege('floyo_user', c.oid, 'INSERT')
FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace AND c.relname IN ('users', 'devices', 'events')
ORDER BY 1
"""


def test_0005_goes_down_to_0003s_security_and_up_again(database_url):
    with migrated_scratch_database(database_url) as url, psycopg.connect(**psycopg_conninfo(url)) as c:
        at_head = c.execute(_SECURITY_STATE).fetchall()
        c.rollback()
        migrate.downgrade(url, "0004")
        assert c.execute(_SECURITY_STATE).fetchall() == [
            ("devices", True, ["devices_of_current_user"], True, False),
            ("events", True, ["events_of_current_user"], True, False),
            ("users", False, [], True, False),
        ]
        assert c.execute("SELECT count(*) FROM pg_proc WHERE prosecdef AND proname LIKE 'floyo_%'").fetchone() == (0,)
        c.rollback()
        migrate.upgrade(url)
        assert c.execute(_SECURITY_STATE).fetchall() == at_head


def test_approvals_and_outcomes_are_per_user_under_the_policies(conn, engine):
    """Another user's approval cannot be written, and nobody's outcome can (the job writes them as the owner)."""
    alice, bob = make_device(engine), make_device(engine)
    wid = conn.execute(
        "INSERT INTO workflows (user_id, name, definition) VALUES (%s, 'w', '{}') RETURNING id", (alice.user_id,)
    ).fetchone()[0]
    conn.execute(
        "INSERT INTO workflow_outcomes (workflow_id, user_id, verdict, body) VALUES (%s, %s, 'unused', '{}')",
        (wid, alice.user_id),
    )
    approval = "INSERT INTO workflow_approvals (workflow_id, user_id, device_id, version, definition_hash, state) "
    approval += "VALUES (%s, %s, %s, 1, repeat('a', 64), 'approved')"
    scope_to_user(conn, alice.user_id)
    assert conn.execute("SELECT verdict FROM workflow_outcomes").fetchall() == [("unused",)]
    scope_to_user(conn, bob.user_id)  # deliberately no WHERE clauses: only the policies can restrict these
    assert conn.execute("SELECT count(*) FROM workflow_outcomes").fetchone() == (0,)
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
        conn.execute(approval, (wid, alice.user_id, bob.device_id))
    conn.rollback()
    scope_to_user(conn, alice.user_id)
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("UPDATE workflow_outcomes SET verdict = 'saving'")
