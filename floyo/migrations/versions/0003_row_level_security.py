"""Row Level Security on per-user tables, enforced for the ``floyo_user`` role that request reads run as.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# Roles are per cluster, not per database: create it only once.
UPGRADE = """
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'floyo_user') THEN
        CREATE ROLE floyo_user NOLOGIN;
    END IF;
END
$$;
GRANT USAGE ON SCHEMA public TO floyo_user;
GRANT SELECT ON users, devices, events TO floyo_user;

ALTER TABLE events ENABLE ROW LEVEL SECURITY;
CREATE POLICY events_of_current_user ON events FOR SELECT TO floyo_user
    USING (user_id = nullif(current_setting('app.user_id', true), '')::bigint);

ALTER TABLE devices ENABLE ROW LEVEL SECURITY;
CREATE POLICY devices_of_current_user ON devices FOR SELECT TO floyo_user
    USING (user_id = nullif(current_setting('app.user_id', true), '')::bigint);
"""

DOWNGRADE = """
DROP POLICY IF EXISTS devices_of_current_user ON devices;
ALTER TABLE devices DISABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS events_of_current_user ON events;
ALTER TABLE events DISABLE ROW LEVEL SECURITY;
REVOKE SELECT ON users, devices, events FROM floyo_user;
REVOKE USAGE ON SCHEMA public FROM floyo_user;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
