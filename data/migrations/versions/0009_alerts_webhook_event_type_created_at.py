"""webhook_events: the event_type index gains created_at

The webhook-silence alert asks, per event type, "when was the last one?" and "how many in this hour?";
with (event_type, created_at) both are index range reads whatever the history's length. Same number of
indexes (the single-column one is its prefix and goes), so the receiver's writes cost the same.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 21:45:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_webhook_events_event_type", table_name="webhook_events")
    op.create_index(
        "ix_webhook_events_event_type_created_at", "webhook_events", ["event_type", "created_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_webhook_events_event_type_created_at", table_name="webhook_events")
    op.create_index("ix_webhook_events_event_type", "webhook_events", ["event_type"], unique=False)
