"""Suggestions, the feedback on them, and workflows (versioned): per-user tables under row level security.

The pipeline job's refresh writes ``suggestions`` and ``suggestion_state`` as the migrator (the table owner, to
whom row level security does not apply); requests read them and record feedback and workflows as ``floyo_user``,
scoped to one user by the policies below.

- ``suggestions``: one row per (user, template, pattern); ``id`` is a stable hash of the three, so it survives
  refreshes and never collides across users. ``active`` is false once a refresh no longer finds the pattern (the
  row, its state and its feedback stay). ``body`` holds what the API returns beyond the indexed columns.
- ``suggestion_feedback``: every answer, with the suggestion as it was shown (the ranker learns from it).
- ``suggestion_state``: one row per user: ``version`` changes on every refresh and every feedback (the cache key),
  ``activity`` says how much activity the user has and how much a suggestion needs.
- ``workflows`` and ``workflow_versions``: every change is a new version; a deleted workflow keeps its history.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

ME = "nullif(current_setting('app.user_id', true), '')::bigint"

TABLES = """
CREATE TABLE suggestions (
    id                      text PRIMARY KEY,
    user_id                 bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    template                text NOT NULL,
    pattern_key             text NOT NULL,
    title                   text NOT NULL,
    body                    jsonb NOT NULL,
    occurrences             integer NOT NULL CHECK (occurrences >= 0),
    confidence              double precision NOT NULL,
    score                   double precision NOT NULL,
    state                   text NOT NULL DEFAULT 'new'
                            CHECK (state IN ('new', 'snoozed', 'accepted', 'dismissed')),
    snoozed_until           timestamptz,
    dismissed_occurrences   integer,
    workflow_id             bigint,
    model_version           text,
    active                  boolean NOT NULL DEFAULT true,
    created_at              timestamptz NOT NULL DEFAULT now(),
    refreshed_at            timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now(),
    UNIQUE (user_id, template, pattern_key)
);
CREATE INDEX suggestions_user_score ON suggestions (user_id, score DESC) WHERE active;

CREATE TABLE suggestion_feedback (
    id              bigserial PRIMARY KEY,
    user_id         bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    suggestion_id   text NOT NULL REFERENCES suggestions (id) ON DELETE CASCADE,
    action          text NOT NULL CHECK (action IN ('accept', 'dismiss', 'snooze')),
    reason          text CHECK (length(reason) <= 2000),
    days            integer CHECK (days BETWEEN 1 AND 365),
    position        integer,
    shown           jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX suggestion_feedback_user ON suggestion_feedback (user_id, created_at);

CREATE TABLE suggestion_state (
    user_id         bigint PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    version         bigint NOT NULL DEFAULT 1,
    model_version   text,
    refreshed_at    timestamptz NOT NULL DEFAULT now(),
    activity        jsonb NOT NULL DEFAULT '{}'::jsonb
);

CREATE TABLE workflows (
    id              bigserial PRIMARY KEY,
    user_id         bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name            text NOT NULL,
    version         integer NOT NULL DEFAULT 1,
    enabled         boolean NOT NULL DEFAULT true,
    definition      jsonb NOT NULL,
    origin          jsonb,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    deleted_at      timestamptz
);
CREATE INDEX workflows_user ON workflows (user_id) WHERE deleted_at IS NULL;

CREATE TABLE workflow_versions (
    workflow_id     bigint NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
    version         integer NOT NULL,
    user_id         bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    change          text NOT NULL CHECK (change IN ('create', 'update', 'delete')),
    definition      jsonb NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workflow_id, version)
);
"""

GRANTS = """
GRANT SELECT ON suggestions TO floyo_user;
GRANT UPDATE (state, snoozed_until, dismissed_occurrences, workflow_id, updated_at) ON suggestions TO floyo_user;
GRANT SELECT, INSERT ON suggestion_feedback TO floyo_user;
GRANT USAGE ON SEQUENCE suggestion_feedback_id_seq TO floyo_user;
GRANT SELECT ON suggestion_state TO floyo_user;
GRANT UPDATE (version) ON suggestion_state TO floyo_user;
GRANT SELECT, INSERT ON workflows TO floyo_user;
GRANT UPDATE (name, version, enabled, definition, updated_at, deleted_at) ON workflows TO floyo_user;
GRANT USAGE ON SEQUENCE workflows_id_seq TO floyo_user;
GRANT SELECT, INSERT ON workflow_versions TO floyo_user;
"""

PER_USER = ("suggestions", "suggestion_feedback", "suggestion_state", "workflows", "workflow_versions")

POLICIES = "\n".join(
    f"ALTER TABLE {t} ENABLE ROW LEVEL SECURITY;\n"
    f"CREATE POLICY {t}_own ON {t} TO floyo_user USING (user_id = {ME}) WITH CHECK (user_id = {ME});"
    for t in PER_USER
)

DOWNGRADE = "DROP TABLE IF EXISTS workflow_versions, workflows, suggestion_state, suggestion_feedback, suggestions;"


def upgrade() -> None:
    op.execute(TABLES)
    op.execute(GRANTS)
    op.execute(POLICIES)


def downgrade() -> None:
    op.execute(DOWNGRADE)
