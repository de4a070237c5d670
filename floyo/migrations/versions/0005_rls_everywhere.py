"""Row level security on every per-user table and on ``users``; the request role granted to the migrator.

Requests run as ``floyo_user`` (NOLOGIN, NOBYPASSRLS) with ``app.user_id`` set: they read their own rows
and insert their own events, nothing else. What they must do before they know the user (authenticate a
device token, look a user up by name) or across users (create a month's event partition) goes through the
SECURITY DEFINER functions below, owned by the migrator and executable only by ``floyo_user``.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# NULL (no row matches) when app.user_id is unset or empty.
ME = "nullif(current_setting('app.user_id', true), '')::bigint"

# Roles are per cluster: create floyo_user once, then make sure the role running the migrations may
# SET ROLE to it (on a managed service that role is the database owner, never a superuser).
ROLE = """
DO $$
DECLARE
    pg16 boolean := current_setting('server_version_num')::int >= 160000;
    can_set boolean;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'floyo_user') THEN
        CREATE ROLE floyo_user NOLOGIN NOBYPASSRLS;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'floyo_user' AND (rolsuper OR rolbypassrls)) THEN
        RAISE EXCEPTION 'role floyo_user is superuser or BYPASSRLS, so row level security would not apply; '
            'an administrator must run: ALTER ROLE floyo_user NOSUPERUSER NOBYPASSRLS;';
    END IF;
    IF pg16 THEN
        EXECUTE 'SELECT pg_has_role(current_user, ''floyo_user'', ''SET'')' INTO can_set;
    ELSE
        can_set := pg_has_role(current_user, 'floyo_user', 'MEMBER');
    END IF;
    IF NOT can_set THEN
        BEGIN
            EXECUTE format('GRANT floyo_user TO %I', current_user);
        EXCEPTION WHEN insufficient_privilege THEN
            RAISE EXCEPTION 'role % may not SET ROLE floyo_user and cannot grant it to itself; '
                'an administrator must run: GRANT floyo_user TO %;', current_user, quote_ident(current_user);
        END;
    END IF;
END
$$;
"""

GRANTS = """
GRANT USAGE ON SCHEMA public TO floyo_user;
REVOKE ALL ON users, devices, events, event_keys, lake_export_state, job_runs FROM floyo_user;
GRANT SELECT ON users TO floyo_user;
-- never token_hash: a request has no use for it
GRANT SELECT (id, user_id, name, token_prefix, created_at, last_used_at, revoked_at) ON devices TO floyo_user;
GRANT SELECT, INSERT ON events TO floyo_user;
GRANT USAGE ON SEQUENCE events_seq TO floyo_user;
GRANT SELECT, INSERT ON event_keys TO floyo_user;
-- telemetry is COPYed into a temporary table, then INSERTed under the policy (COPY refuses RLS tables)
DO $$ BEGIN EXECUTE format('GRANT TEMPORARY ON DATABASE %I TO floyo_user', current_database()); END $$;
"""

POLICIES = f"""
ALTER TABLE users ENABLE ROW LEVEL SECURITY;
CREATE POLICY users_self ON users FOR SELECT TO floyo_user USING (id = {ME});
CREATE POLICY events_insert_own ON events FOR INSERT TO floyo_user WITH CHECK (user_id = {ME});
"""

# search_path: pg_catalog first so no object of the caller's can shadow a built-in, pg_temp last (it
# would otherwise be searched first); every table is schema-qualified anyway.
DEFINER = "LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp"

FUNCTIONS = f"""
CREATE FUNCTION floyo_authenticate_device(token_hash bytea)
RETURNS TABLE (device_id bigint, user_id bigint, user_name text, is_admin boolean)
{DEFINER} AS $$
    WITH d AS (
        SELECT d.id AS device_id, d.last_used_at, u.id AS user_id, u.name, u.is_admin
        FROM public.devices d JOIN public.users u ON u.id = d.user_id
        WHERE d.token_hash = $1 AND d.revoked_at IS NULL
    ), touched AS (
        -- written at most once a minute per device: a busy agent's requests stay read-only
        UPDATE public.devices SET last_used_at = now() FROM d WHERE devices.id = d.device_id
        AND (d.last_used_at IS NULL OR d.last_used_at < now() - interval '1 minute')
    )
    SELECT device_id, user_id, name, is_admin FROM d
$$;

CREATE FUNCTION floyo_user_by_name(user_name text)
RETURNS TABLE (id bigint, name text, is_admin boolean)
{DEFINER} STABLE AS $$
    SELECT u.id, u.name, u.is_admin FROM public.users u WHERE u.name = $1
$$;

CREATE OR REPLACE FUNCTION floyo_ensure_event_partition(month date) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    start_month date := date_trunc('month', month)::date;
    name text := format('events_p%s', to_char(start_month, 'YYYYMM'));
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('floyo_event_partitions'));
    IF to_regclass(format('public.%I', name)) IS NULL THEN
        EXECUTE format(
            'CREATE TABLE public.%I PARTITION OF public.events FOR VALUES FROM (%L) TO (%L)',
            name, start_month::text || ' 00:00:00+00',
            (start_month + interval '1 month')::date::text || ' 00:00:00+00'
        );
    END IF;
    RETURN name;
END;
$$;

REVOKE ALL ON FUNCTION floyo_authenticate_device(bytea), floyo_user_by_name(text),
    floyo_ensure_event_partition(date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION floyo_authenticate_device(bytea), floyo_user_by_name(text),
    floyo_ensure_event_partition(date) TO floyo_user;
"""

# 0001's partition function and 0003's grants, as they were.
DOWNGRADE = """
DROP FUNCTION IF EXISTS floyo_user_by_name(text);
DROP FUNCTION IF EXISTS floyo_authenticate_device(bytea);
CREATE OR REPLACE FUNCTION floyo_ensure_event_partition(month date) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    start_month date := date_trunc('month', month)::date;
    name text := format('events_p%s', to_char(start_month, 'YYYYMM'));
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('floyo_event_partitions'));
    IF to_regclass(name) IS NULL THEN
        EXECUTE format(
            'CREATE TABLE %I PARTITION OF events FOR VALUES FROM (%L) TO (%L)',
            name, start_month::text || ' 00:00:00+00',
            (start_month + interval '1 month')::date::text || ' 00:00:00+00'
        );
    END IF;
    RETURN name;
END;
$$;
ALTER FUNCTION floyo_ensure_event_partition(date) RESET ALL;
ALTER FUNCTION floyo_ensure_event_partition(date) SECURITY INVOKER;
GRANT EXECUTE ON FUNCTION floyo_ensure_event_partition(date) TO PUBLIC;
REVOKE ALL ON FUNCTION floyo_ensure_event_partition(date) FROM floyo_user;

DROP POLICY IF EXISTS events_insert_own ON events;
DROP POLICY IF EXISTS users_self ON users;
ALTER TABLE users DISABLE ROW LEVEL SECURITY;

REVOKE ALL ON users, devices, events, event_keys FROM floyo_user;
REVOKE USAGE ON SEQUENCE events_seq FROM floyo_user;
DO $$ BEGIN EXECUTE format('REVOKE TEMPORARY ON DATABASE %I FROM floyo_user', current_database()); END $$;
GRANT SELECT ON users, devices, events TO floyo_user;
"""


def upgrade() -> None:
    op.execute(ROLE)
    op.execute(GRANTS)
    op.execute(POLICIES)
    op.execute(FUNCTIONS)


def downgrade() -> None:
    op.execute(DOWNGRADE)
