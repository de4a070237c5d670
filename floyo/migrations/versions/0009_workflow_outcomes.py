"""Workflows that run: each device's approval state, the measured outcomes, and an index for a workflow's runs.

- ``workflow_approvals``: every state a device reported for a workflow (``approved``, ``rejected``, ``disabled``)
  at a version and the definition hash it saw; append-only (the history of who approved what, when). The agent
  writes it through ``PUT /api/v1/workflows/{id}/approval`` as ``floyo_user``; the server never writes
  ``approved`` itself.
- ``workflow_outcomes``: one row per adopted workflow, written by the pipeline job (the table owner) from the lake:
  manual occurrences per week before and after adoption, runs, failures, minutes saved, the verdict
  (``models/outcomes.py``). Requests read their own rows.
- ``events_workflow_runs``: the ``run`` events an agent reports for a workflow (``meta.workflow_id``), newest
  first per user: what ``GET /api/v1/workflows/{id}/runs`` reads. The id is indexed as text: a cast in the index
  would make a malformed ``meta`` from any client fail its whole batch.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

ME = "nullif(current_setting('app.user_id', true), '')::bigint"

TABLES = """
CREATE TABLE workflow_approvals (
    id                  bigserial PRIMARY KEY,
    workflow_id         bigint NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
    user_id             bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    device_id           bigint NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    version             integer NOT NULL CHECK (version >= 1),
    definition_hash     text NOT NULL CHECK (definition_hash ~ '^[0-9a-f]{64}$'),
    state               text NOT NULL CHECK (state IN ('approved', 'rejected', 'disabled')),
    reason              text CHECK (length(reason) <= 500),
    at                  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX workflow_approvals_workflow ON workflow_approvals (workflow_id, device_id, at DESC, id DESC);

CREATE TABLE workflow_outcomes (
    workflow_id         bigint PRIMARY KEY REFERENCES workflows (id) ON DELETE CASCADE,
    user_id             bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    adopted_at          timestamptz,
    verdict             text NOT NULL,
    verdict_at          timestamptz,
    body                jsonb NOT NULL,
    computed_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX workflow_outcomes_user ON workflow_outcomes (user_id);

CREATE INDEX events_workflow_runs ON events (user_id, (meta ->> 'workflow_id'), ts DESC, seq DESC)
    WHERE kind = 'run' AND meta ? 'workflow_id';
"""

GRANTS = """
GRANT SELECT, INSERT ON workflow_approvals TO floyo_user;
GRANT USAGE ON SEQUENCE workflow_approvals_id_seq TO floyo_user;
GRANT SELECT ON workflow_outcomes TO floyo_user;
"""

POLICIES = f"""
ALTER TABLE workflow_approvals ENABLE ROW LEVEL SECURITY;
CREATE POLICY workflow_approvals_own ON workflow_approvals TO floyo_user
    USING (user_id = {ME}) WITH CHECK (user_id = {ME});
ALTER TABLE workflow_outcomes ENABLE ROW LEVEL SECURITY;
CREATE POLICY workflow_outcomes_own ON workflow_outcomes FOR SELECT TO floyo_user USING (user_id = {ME});
"""

DOWNGRADE = """
DROP INDEX IF EXISTS events_workflow_runs;
DROP TABLE IF EXISTS workflow_outcomes, workflow_approvals;
"""


def upgrade() -> None:
    op.execute(TABLES)
    op.execute(GRANTS)
    op.execute(POLICIES)


def downgrade() -> None:
    op.execute(DOWNGRADE)
