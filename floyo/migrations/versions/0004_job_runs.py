"""Background job runs: one row per run of the pipeline job (export, features, train, evaluate, promote).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

UPGRADE = """
CREATE TABLE job_runs (
    id           bigserial PRIMARY KEY,
    job          text NOT NULL DEFAULT 'pipeline',
    trigger      text NOT NULL,
    status       text NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'skipped', 'abandoned')),
    started_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz,
    duration_s   double precision,
    steps        jsonb NOT NULL DEFAULT '{}'::jsonb,
    summary      jsonb NOT NULL DEFAULT '{}'::jsonb,
    error        text,
    host         text NOT NULL DEFAULT '',
    pid          integer
);
CREATE INDEX job_runs_job_started ON job_runs (job, started_at DESC);
"""

DOWNGRADE = "DROP TABLE IF EXISTS job_runs;"


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
