"""incremental reconcile: reconcile_runs, updated_at indexes, mismatches updated in place

An incremental reconcile pass reads what changed since the previous pass from each entity table's
`updated_at` (stamped by the one upsert every writer uses), so those columns are indexed; each pass is
recorded in reconcile_runs. Bulk decisions rewrite tens of thousands of mismatches at once: the
status index goes (it changes on every decision) and, on PostgreSQL, pages keep 40 % free space so
those updates happen in place (HOT) instead of writing every index again.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02 00:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from alembic import op

import data.models

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CHANGED_TABLES = ("payments", "orders", "refunds", "settlements", "settlement_lines", "disputes")


def upgrade() -> None:
    op.create_table(
        "reconcile_runs",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("started_at", data.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("rules_now", data.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("coverage_start", data.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("coverage_end", data.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "detail",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reconcile_runs")),
    )
    with op.batch_alter_table("reconcile_runs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_reconcile_runs_started_at"), ["started_at"], unique=False)
    for table in _CHANGED_TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.create_index(batch_op.f(f"ix_{table}_updated_at"), ["updated_at"], unique=False)
    with op.batch_alter_table("mismatches", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_mismatches_status"))
    if op.get_context().dialect.name == "postgresql":
        # Applies to pages written from now on; existing ones gain room as rows are updated and vacuumed.
        op.execute("ALTER TABLE mismatches SET (fillfactor = 60)")


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.execute("ALTER TABLE mismatches RESET (fillfactor)")
    with op.batch_alter_table("mismatches", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_mismatches_status"), ["status"], unique=False)
    for table in reversed(_CHANGED_TABLES):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(batch_op.f(f"ix_{table}_updated_at"))
    with op.batch_alter_table("reconcile_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reconcile_runs_started_at"))
    op.drop_table("reconcile_runs")
