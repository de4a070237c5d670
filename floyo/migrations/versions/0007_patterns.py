"""What the models found, in PostgreSQL: ``floyo patterns`` and ``floyo models list`` read these, never MLflow.

The pipeline job writes them after training (``models.pattern_store.refresh_patterns``), as the migrator (the
table owner, to whom row level security does not apply); a person's reads go through ``floyo_user``.

- ``patterns``: one row per rule or workflow shown to people, already in human words (``body``), ranked per
  (family, user); ``user_id`` NULL is a global row. ``floyo_user`` sees its own rows and, once scoped to a user,
  the global ones.
- ``pattern_activity``: per user, how much activity the last refresh saw (events, sessions, days) and what a
  personal pattern needs (``needed``), so that a person with too little is told how much is needed instead of an empty list.
- ``model_versions``: the registered models as the registry held them at the last refresh (versions, aliases,
  metrics); no per-user data, no grant to the request role.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

ME = "nullif(current_setting('app.user_id', true), '')::bigint"

TABLES = """
CREATE TABLE patterns (
    id              bigserial PRIMARY KEY,
    family          text NOT NULL CHECK (family IN ('rules', 'workflows')),
    user_id         bigint REFERENCES users (id) ON DELETE CASCADE,
    rank            integer NOT NULL CHECK (rank >= 1),
    body            jsonb NOT NULL,
    model_name      text NOT NULL,
    model_version   text NOT NULL,
    refreshed_at    timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX patterns_user_rank ON patterns (family, user_id, rank) WHERE user_id IS NOT NULL;
CREATE UNIQUE INDEX patterns_global_rank ON patterns (family, rank) WHERE user_id IS NULL;

CREATE TABLE pattern_activity (
    user_id         bigint PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    events          integer NOT NULL CHECK (events >= 0),
    sessions        integer NOT NULL CHECK (sessions >= 0),
    days            integer NOT NULL CHECK (days >= 0),
    needed          jsonb NOT NULL DEFAULT '{}'::jsonb,
    refreshed_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE model_versions (
    name            text NOT NULL,
    version         text NOT NULL,
    aliases         text[] NOT NULL DEFAULT '{}',
    metrics         jsonb NOT NULL DEFAULT '{}'::jsonb,
    refreshed_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (name, version)
);
"""

GRANTS = """
GRANT SELECT ON patterns TO floyo_user;
GRANT SELECT ON pattern_activity TO floyo_user;
"""

POLICIES = f"""
ALTER TABLE patterns ENABLE ROW LEVEL SECURITY;
CREATE POLICY patterns_own_and_global ON patterns FOR SELECT TO floyo_user
    USING (user_id = {ME} OR (user_id IS NULL AND {ME} IS NOT NULL));
ALTER TABLE pattern_activity ENABLE ROW LEVEL SECURITY;
CREATE POLICY pattern_activity_own ON pattern_activity FOR SELECT TO floyo_user USING (user_id = {ME});
"""

DOWNGRADE = "DROP TABLE IF EXISTS model_versions, pattern_activity, patterns;"


def upgrade() -> None:
    op.execute(TABLES)
    op.execute(GRANTS)
    op.execute(POLICIES)


def downgrade() -> None:
    op.execute(DOWNGRADE)
