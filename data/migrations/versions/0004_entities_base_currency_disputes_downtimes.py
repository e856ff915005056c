"""base currency on payments, dispute id on settlement lines, disputes and downtimes tables

International payments are reconciled in the base currency (`base_amount`/`base_currency`, in which
Razorpay states fee, tax and the settlement line). Existing rows are backfilled: a payment in INR is its
own base; a foreign payment takes the API's figures from its stored raw JSON, or stays NULL.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 20:40:00
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import data.models

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_RAW = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
_BASE_CURRENCY = "INR"


def _entity_columns() -> list[sa.Column[Any]]:
    return [
        sa.Column("created_at", data.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("state_at", data.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("raw", _RAW, nullable=False),
        sa.Column("updated_at", data.models.UTCDateTime(timezone=True), nullable=False),
    ]


def upgrade() -> None:
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("base_amount", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("base_currency", sa.String(length=3), nullable=True))
    with op.batch_alter_table("settlement_lines", schema=None) as batch_op:
        batch_op.add_column(sa.Column("dispute_id", sa.String(length=40), nullable=True))
        batch_op.create_index(batch_op.f("ix_settlement_lines_dispute_id"), ["dispute_id"], unique=False)
    _backfill_base_amounts()

    op.create_table(
        "disputes",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("payment_id", sa.String(length=40), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("amount_deducted", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("reason_code", sa.String(length=64), nullable=True),
        sa.Column("reason_description", sa.Text(), nullable=True),
        sa.Column("phase", sa.String(length=32), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("respond_by", data.models.UTCDateTime(timezone=True), nullable=True),
        *_entity_columns(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_disputes")),
    )
    with op.batch_alter_table("disputes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_disputes_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_disputes_payment_id"), ["payment_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_disputes_status"), ["status"], unique=False)

    op.create_table(
        "downtimes",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("method", sa.String(length=32), nullable=True),
        sa.Column("bank", sa.String(length=32), nullable=True),
        sa.Column("issuer", sa.String(length=32), nullable=True),
        sa.Column("card_network", sa.String(length=32), nullable=True),
        sa.Column("card_type", sa.String(length=16), nullable=True),
        sa.Column("vpa_handle", sa.String(length=64), nullable=True),
        sa.Column("psp", sa.String(length=64), nullable=True),
        sa.Column("flow", sa.String(length=16), nullable=True),
        sa.Column("severity", sa.String(length=16), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("scheduled", sa.Boolean(), nullable=False),
        sa.Column("begin", data.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("end", data.models.UTCDateTime(timezone=True), nullable=True),
        *_entity_columns(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_downtimes")),
    )
    with op.batch_alter_table("downtimes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_downtimes_begin"), ["begin"], unique=False)
        batch_op.create_index(batch_op.f("ix_downtimes_method"), ["method"], unique=False)
        batch_op.create_index(batch_op.f("ix_downtimes_status"), ["status"], unique=False)


def _backfill_base_amounts() -> None:
    payments = sa.table(
        "payments",
        sa.column("id", sa.String()),
        sa.column("amount", sa.BigInteger()),
        sa.column("currency", sa.String()),
        sa.column("base_amount", sa.BigInteger()),
        sa.column("base_currency", sa.String()),
        sa.column("raw", _RAW),
    )
    bind = op.get_bind()
    bind.execute(
        payments.update()
        .where(payments.c.currency == _BASE_CURRENCY)
        .values(base_amount=payments.c.amount, base_currency=payments.c.currency)
    )
    # Foreign payments are few; read their raw JSON here rather than with per-dialect JSON operators.
    foreign = bind.execute(
        sa.select(payments.c.id, payments.c.raw).where(payments.c.currency != _BASE_CURRENCY)
    ).all()
    updates = []
    for payment_id, raw in foreign:
        base_amount = raw.get("base_amount") if isinstance(raw, dict) else None
        base_currency = raw.get("base_currency") if isinstance(raw, dict) else None
        if type(base_amount) is int and isinstance(base_currency, str) and len(base_currency) == 3:
            updates.append({"pid": payment_id, "ba": base_amount, "bc": base_currency.upper()})
    if updates:
        bind.execute(
            payments.update()
            .where(payments.c.id == sa.bindparam("pid"))
            .values(base_amount=sa.bindparam("ba"), base_currency=sa.bindparam("bc")),
            updates,
        )


def downgrade() -> None:
    with op.batch_alter_table("downtimes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_downtimes_status"))
        batch_op.drop_index(batch_op.f("ix_downtimes_method"))
        batch_op.drop_index(batch_op.f("ix_downtimes_begin"))
    op.drop_table("downtimes")
    with op.batch_alter_table("disputes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_disputes_status"))
        batch_op.drop_index(batch_op.f("ix_disputes_payment_id"))
        batch_op.drop_index(batch_op.f("ix_disputes_created_at"))
    op.drop_table("disputes")
    with op.batch_alter_table("settlement_lines", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_settlement_lines_dispute_id"))
        batch_op.drop_column("dispute_id")
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_column("base_currency")
        batch_op.drop_column("base_amount")
