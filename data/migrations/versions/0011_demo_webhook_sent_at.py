"""webhook_events.sent_at: when a replayed event was first sent

A replay of past deliveries (the sandbox's history in the demo, or an archive re-fed to a new install)
declares each event's first-send time inside its signed body; lag is measured to it instead of to the
replay's own receipt, so history keeps its lateness. NULL for every live delivery (and every older row).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 00:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import data.models

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("webhook_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sent_at", data.models.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("webhook_events", schema=None) as batch_op:
        batch_op.drop_column("sent_at")
