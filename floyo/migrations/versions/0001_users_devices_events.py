"""Users, devices, and events partitioned by month with a global idempotency key table.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

UPGRADE = """
CREATE TABLE users (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 200),
    is_admin    boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE devices (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id       bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    token_hash    bytea NOT NULL UNIQUE,
    token_prefix  text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_used_at  timestamptz,
    revoked_at    timestamptz,
    UNIQUE (user_id, name)
);

CREATE TYPE event_kind AS ENUM ('open', 'create', 'modify', 'delete', 'move', 'run');

CREATE SEQUENCE events_seq AS bigint;

-- No foreign keys on events: user_id and device_id come from the authenticated token, and per-row
-- RI checks would halve the COPY rate. seq is the export watermark.
CREATE TABLE events (
    seq          bigint NOT NULL DEFAULT nextval('events_seq'),
    event_id     uuid NOT NULL,
    user_id      bigint NOT NULL,
    device_id    bigint NOT NULL,
    ts           timestamptz NOT NULL,
    client_ts    timestamptz NOT NULL,
    skew_ms      bigint NOT NULL,
    received_at  timestamptz NOT NULL,
    kind         event_kind NOT NULL,
    root         text NOT NULL,
    path         text NOT NULL,
    ext          text NOT NULL,
    dest_path    text,
    tool         text,
    exit_code    integer,
    duration_ms  bigint,
    meta         jsonb
) PARTITION BY RANGE (ts);
ALTER SEQUENCE events_seq OWNED BY events.seq;

CREATE INDEX events_user_ts_idx ON events (user_id, ts, seq);
CREATE INDEX events_seq_brin ON events USING brin (seq);

-- The same event_id is stored once, whatever partition its (skew-corrected) time falls in.
CREATE TABLE event_keys (
    event_id uuid PRIMARY KEY
);

CREATE FUNCTION floyo_ensure_event_partition(month date) RETURNS text
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
"""

DOWNGRADE = """
DROP FUNCTION IF EXISTS floyo_ensure_event_partition(date);
DROP TABLE IF EXISTS event_keys;
DROP TABLE IF EXISTS events;
DROP TYPE IF EXISTS event_kind;
DROP TABLE IF EXISTS devices;
DROP TABLE IF EXISTS users;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
