"""covering indexes for webhook health and missing-event checks

The dashboard's Webhook health page reads every event of its period; with the whole envelope in each
row that meant a row read per event. Two single-column indexes become composite ones that answer those
queries alone (same number of indexes, so the receiver's writes do not get an extra B-tree), and the
payments (status, created_at) index gains `id` for the anti-joins on payment id.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 05:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_webhook_events_created_at", table_name="webhook_events")
    op.create_index(
        "ix_webhook_events_created_at_covering",
        "webhook_events",
        ["created_at", "event_type", "lag_ms", "delivery_count", "entity_status", "payment_id"],
        unique=False,
    )
    op.drop_index("ix_webhook_events_payment_id", table_name="webhook_events")
    op.create_index(
        "ix_webhook_events_payment_id_type", "webhook_events", ["payment_id", "event_type"], unique=False
    )
    op.drop_index("ix_payments_status_created_at", table_name="payments")
    op.create_index("ix_payments_status_created_at", "payments", ["status", "created_at", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_payments_status_created_at", table_name="payments")
    op.create_index("ix_payments_status_created_at", "payments", ["status", "created_at"], unique=False)
    op.drop_index("ix_webhook_events_payment_id_type", table_name="webhook_events")
    op.create_index("ix_webhook_events_payment_id", "webhook_events", ["payment_id"], unique=False)
    op.drop_index("ix_webhook_events_created_at_covering", table_name="webhook_events")
    op.create_index("ix_webhook_events_created_at", "webhook_events", ["created_at"], unique=False)
