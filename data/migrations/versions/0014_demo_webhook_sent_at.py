"""webhook_events.sent_at (when a replayed event was first sent); webhook_lag_rollup_daily; payments (id, status)

A replay of past deliveries (the sandbox's history in the demo, or an archive re-fed to a new install)
declares each event's first-send time inside its signed body; lag is measured to it instead of to the
replay's own receipt, so history keeps its lateness. NULL for every live delivery (and every older row).

webhook_lag_rollup_daily: events and deliveries per IST day, event type and lag bucket, kept by the
receiver, so Webhook health reads a month of lag percentiles from a few thousand rows instead of
grouping every event. Filled from webhook_events here (the same statement as `rebuild_webhook_lag`).

payments: (id, status) replaces the single-column status index (a prefix of (status, created_at, id)),
so Webhook health's conflict check joins a month of events to payment statuses from an index.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02 00:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import data.models

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Conflicts join a month of events to their payment's status: (id, status) answers that from the
    # index; the single-column status index goes (ix_payments_status_created_at starts with status).
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_index("ix_payments_status")
        batch_op.create_index("ix_payments_id_status", ["id", "status"], unique=False)
    with op.batch_alter_table("webhook_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sent_at", data.models.UTCDateTime(timezone=True), nullable=True))
    op.create_table(
        "webhook_lag_rollup_daily",
        sa.Column("ist_day", sa.Date(), nullable=False),
        sa.Column("event_type", sa.String(length=64), nullable=False),
        sa.Column("lag_bucket_ms", sa.BigInteger(), nullable=False),
        sa.Column("events", sa.BigInteger(), nullable=False),
        sa.Column("deliveries", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "ist_day", "event_type", "lag_bucket_ms", name=op.f("pk_webhook_lag_rollup_daily")
        ),
    )
    # The statement data.rollups.rebuild_webhook_lag builds today, written out so that this migration
    # keeps meaning the same when that code changes.
    bind = op.get_bind()
    ist_day = (
        "date(created_at, '+330 minutes')"
        if bind.dialect.name == "sqlite"
        else "CAST(timezone('UTC', created_at) + interval '330 minutes' AS DATE)"
    )
    bucket = (
        "CASE WHEN lag_ms <= 0 THEN 0 WHEN lag_ms <= 10000 THEN ((lag_ms + 9) / 10) * 10 "
        "WHEN lag_ms <= 100000 THEN ((lag_ms + 99) / 100) * 100 "
        "WHEN lag_ms <= 1000000 THEN ((lag_ms + 999) / 1000) * 1000 "
        "ELSE ((lag_ms + 9999) / 10000) * 10000 END"
    )
    op.execute(
        "INSERT INTO webhook_lag_rollup_daily (ist_day, event_type, lag_bucket_ms, events, deliveries) "
        f"SELECT {ist_day}, event_type, {bucket}, count(*), sum(delivery_count) FROM webhook_events "
        f"GROUP BY {ist_day}, event_type, {bucket}"
    )


def downgrade() -> None:
    op.drop_table("webhook_lag_rollup_daily")
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_index("ix_payments_id_status")
        batch_op.create_index("ix_payments_status", ["status"], unique=False)
    with op.batch_alter_table("webhook_events", schema=None) as batch_op:
        batch_op.drop_column("sent_at")
