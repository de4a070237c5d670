"""The Parquet lake export's watermark: the last seq whose events are committed to the lake.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

UPGRADE = """
CREATE TABLE lake_export_state (
    id          smallint PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    watermark   bigint NOT NULL DEFAULT 0 CHECK (watermark >= 0),
    exported    bigint NOT NULL DEFAULT 0,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
INSERT INTO lake_export_state (id) VALUES (1);
"""

DOWNGRADE = "DROP TABLE IF EXISTS lake_export_state;"


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
