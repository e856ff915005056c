"""webhook events: body sha256, interpretation notes, conflicting bodies

A validly signed event is always stored now, with what could not be interpreted noted in
`interpretation`. Idempotency keys on the body as well as the event id: `body_sha256` (unique) makes
the same body under a new id a duplicate, and a different body under a known id is kept as a conflict
(`conflict_count`, the latest conflicting body and its hash).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 20:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import data.models

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("webhook_events") as batch:
        batch.add_column(sa.Column("body_sha256", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("interpretation", sa.Text(), nullable=True))
        batch.add_column(sa.Column("conflict_count", sa.Integer(), server_default="0", nullable=False))
        batch.add_column(sa.Column("conflict_sha256", sa.String(length=64), nullable=True))
        batch.add_column(
            sa.Column(
                "conflict_payload",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                nullable=True,
            )
        )
        batch.add_column(sa.Column("last_conflict_at", data.models.UTCDateTime(timezone=True), nullable=True))
        batch.create_index("uq_webhook_events_body_sha256", ["body_sha256"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("webhook_events") as batch:
        batch.drop_index("uq_webhook_events_body_sha256")
        batch.drop_column("last_conflict_at")
        batch.drop_column("conflict_payload")
        batch.drop_column("conflict_sha256")
        batch.drop_column("conflict_count")
        batch.drop_column("interpretation")
        batch.drop_column("body_sha256")
