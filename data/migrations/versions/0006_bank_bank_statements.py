"""bank statements, their lines and the line-to-settlement matches

bank_statements: one row per imported file (sha256, period covered); bank_statement_lines: each
transaction with file, line number and raw text, unique by a transaction key so re-imports change
nothing; bank_matches: which line credits which settlement, by which matching rule. mismatches gain
owner, reason_code, evidence_at and due_at for bulk work on breaks.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 20:30:25.029319
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import data.models

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "bank_statements",
        sa.Column("file_sha256", sa.String(length=64), nullable=False),
        sa.Column("file_name", sa.String(length=255), nullable=False),
        sa.Column("format", sa.String(length=16), nullable=False),
        sa.Column("preset", sa.String(length=32), nullable=True),
        sa.Column("account", sa.String(length=16), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("line_count", sa.Integer(), nullable=False),
        sa.Column("quarantined", sa.Integer(), nullable=False),
        sa.Column("imported_at", data.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("imported_by", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("file_sha256", name=op.f("pk_bank_statements")),
    )
    op.create_table(
        "bank_statement_lines",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("line_key", sa.String(length=64), nullable=False),
        sa.Column("file_sha256", sa.String(length=64), nullable=False),
        sa.Column("file_name", sa.String(length=255), nullable=False),
        sa.Column("line_number", sa.Integer(), nullable=False),
        sa.Column("account", sa.String(length=16), nullable=True),
        sa.Column("value_date", sa.Date(), nullable=False),
        sa.Column("booking_date", sa.Date(), nullable=True),
        sa.Column("direction", sa.String(length=6), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("reference", sa.String(length=128), nullable=True),
        sa.Column("narration", sa.Text(), nullable=True),
        sa.Column("balance", sa.BigInteger(), nullable=True),
        sa.Column("raw", sa.Text(), nullable=False),
        sa.Column("imported_at", data.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["file_sha256"],
            ["bank_statements.file_sha256"],
            name=op.f("fk_bank_statement_lines_file_sha256_bank_statements"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bank_statement_lines")),
        sa.UniqueConstraint("line_key", name=op.f("uq_bank_statement_lines_line_key")),
    )
    with op.batch_alter_table("bank_statement_lines", schema=None) as batch_op:
        batch_op.create_index(
            "ix_bank_statement_lines_direction_value_date", ["direction", "value_date"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_bank_statement_lines_file_sha256"), ["file_sha256"], unique=False
        )

    op.create_table(
        "bank_matches",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("line_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("settlement_id", sa.String(length=40), nullable=False),
        sa.Column("rule", sa.String(length=24), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("matched_at", data.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["line_id"],
            ["bank_statement_lines.id"],
            name=op.f("fk_bank_matches_line_id_bank_statement_lines"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bank_matches")),
    )
    with op.batch_alter_table("bank_matches", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_bank_matches_line_id"), ["line_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_bank_matches_settlement_id"), ["settlement_id"], unique=False)


    with op.batch_alter_table("mismatches", schema=None) as batch_op:
        batch_op.add_column(sa.Column("owner", sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column("reason_code", sa.String(length=48), nullable=True))
        batch_op.add_column(sa.Column("evidence_at", data.models.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("due_at", data.models.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f("ix_mismatches_owner"), ["owner"], unique=False)
        batch_op.create_index(batch_op.f("ix_mismatches_due_at"), ["due_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("mismatches", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_mismatches_due_at"))
        batch_op.drop_index(batch_op.f("ix_mismatches_owner"))
        batch_op.drop_column("due_at")
        batch_op.drop_column("evidence_at")
        batch_op.drop_column("reason_code")
        batch_op.drop_column("owner")
    with op.batch_alter_table("bank_matches", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_bank_matches_settlement_id"))
        batch_op.drop_index(batch_op.f("ix_bank_matches_line_id"))

    op.drop_table("bank_matches")
    with op.batch_alter_table("bank_statement_lines", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_bank_statement_lines_file_sha256"))
        batch_op.drop_index("ix_bank_statement_lines_direction_value_date")

    op.drop_table("bank_statement_lines")
    op.drop_table("bank_statements")
