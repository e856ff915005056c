"""webhook_rejections: one row per reason, source address and UTC minute

Anyone can send unsigned requests, so one row per rejected delivery let a flood grow the table (and the
receiver's write work) with its size. A row now counts the deliveries of its (minute, reason, source):
delivery_count, first (received_at) and last seen; the receiver adds to it with ON CONFLICT on the new
unique index. Existing rows are folded into that shape: each becomes its minute's row or is added to it.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 00:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import data.models

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KEY = "minute_start, reason, source_address"


def upgrade() -> None:
    with op.batch_alter_table("webhook_rejections", schema=None) as batch_op:
        batch_op.add_column(sa.Column("minute_start", data.models.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("last_received_at", data.models.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("delivery_count", sa.Integer(), server_default="1", nullable=False))
    if op.get_bind().dialect.name == "postgresql":
        minute = "date_trunc('minute', received_at)"
    else:
        # The text SQLAlchemy writes for a datetime on SQLite, so the receiver's own minute_start
        # values compare equal to these.
        minute = "strftime('%Y-%m-%d %H:%M:00.000000', received_at)"
    op.execute(
        "UPDATE webhook_rejections SET "
        f"minute_start = {minute}, last_received_at = received_at, delivery_count = 1, "
        "source_address = COALESCE(source_address, 'unknown')"
    )
    # Fold each (minute, reason, source) into its first row: count, first and last seen.
    op.execute(
        "UPDATE webhook_rejections SET "
        "delivery_count = folded.deliveries, received_at = folded.first_at, last_received_at = folded.last_at "
        "FROM (SELECT min(id) AS keep_id, count(*) AS deliveries, min(received_at) AS first_at, "
        f"max(received_at) AS last_at FROM webhook_rejections GROUP BY {_KEY} HAVING count(*) > 1) AS folded "
        "WHERE webhook_rejections.id = folded.keep_id"
    )
    op.execute(
        "DELETE FROM webhook_rejections WHERE id NOT IN "
        f"(SELECT min(id) FROM webhook_rejections GROUP BY {_KEY})"
    )
    with op.batch_alter_table("webhook_rejections", schema=None) as batch_op:
        batch_op.alter_column(
            "minute_start", existing_type=data.models.UTCDateTime(timezone=True), nullable=False
        )
        batch_op.alter_column(
            "last_received_at", existing_type=data.models.UTCDateTime(timezone=True), nullable=False
        )
        batch_op.alter_column(
            "source_address",
            existing_type=sa.String(length=64),
            nullable=False,
            server_default="unknown",
        )
        batch_op.create_index(
            "uq_webhook_rejections_minute_reason_source",
            ["minute_start", "reason", "source_address"],
            unique=True,
        )


def downgrade() -> None:
    # The per-delivery rows cannot be recovered: each aggregate row becomes one row again.
    with op.batch_alter_table("webhook_rejections", schema=None) as batch_op:
        batch_op.drop_index("uq_webhook_rejections_minute_reason_source")
        batch_op.alter_column(
            "source_address", existing_type=sa.String(length=64), nullable=True, server_default=None
        )
        batch_op.drop_column("delivery_count")
        batch_op.drop_column("last_received_at")
        batch_op.drop_column("minute_start")
