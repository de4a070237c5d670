"""Event ids per user: the idempotency key is (user, event id), and ``event_keys`` is under row level security.

A global key let one user learn that another's id exists ("duplicate") and claim ids first (the CSV loader's
ids are predictable). Now another user's id is simply a new event of yours, and the request role sees and
claims only its own user's keys.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

ME = "nullif(current_setting('app.user_id', true), '')::bigint"

UPGRADE = f"""
ALTER TABLE event_keys ADD COLUMN user_id bigint;
UPDATE event_keys k SET user_id = e.user_id FROM events e WHERE e.event_id = k.event_id;
-- a key without its event protects nothing (its event was never stored, or was deleted)
DELETE FROM event_keys WHERE user_id IS NULL;
ALTER TABLE event_keys ALTER COLUMN user_id SET NOT NULL;
ALTER TABLE event_keys DROP CONSTRAINT event_keys_pkey;
ALTER TABLE event_keys ADD PRIMARY KEY (user_id, event_id);

ALTER TABLE event_keys ENABLE ROW LEVEL SECURITY;
CREATE POLICY event_keys_own ON event_keys FOR ALL TO floyo_user
    USING (user_id = {ME}) WITH CHECK (user_id = {ME});
"""

# Two users' keys for one id collapse to one (the events themselves stay): the old global key cannot hold both.
DOWNGRADE = """
DROP POLICY IF EXISTS event_keys_own ON event_keys;
ALTER TABLE event_keys DISABLE ROW LEVEL SECURITY;
DELETE FROM event_keys a USING event_keys b WHERE a.event_id = b.event_id AND a.user_id > b.user_id;
ALTER TABLE event_keys DROP CONSTRAINT event_keys_pkey;
ALTER TABLE event_keys DROP COLUMN user_id;
ALTER TABLE event_keys ADD PRIMARY KEY (event_id);
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
