"""the conversion Razorpay applied to an international payment, on the payment

Razorpay's payment entity gives the conversion as `base_amount` in `base_currency` for `amount` in
`currency`; `payments.conversion_rate` keeps it as a rate (base-currency units per unit of the payment's
currency). Existing rows with a conversion are backfilled from their stored base amounts.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 00:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from data.money import conversion_rate

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("conversion_rate", sa.Numeric(precision=20, scale=10), nullable=True))
    _backfill_conversion_rates()


def _backfill_conversion_rates() -> None:
    payments = sa.table(
        "payments",
        sa.column("id", sa.String()),
        sa.column("amount", sa.BigInteger()),
        sa.column("currency", sa.String()),
        sa.column("base_amount", sa.BigInteger()),
        sa.column("base_currency", sa.String()),
        sa.column("conversion_rate", sa.Numeric(precision=20, scale=10)),
    )
    bind = op.get_bind()
    # Only international payments carry a conversion; they are few, and the currencies' minor-unit sizes
    # come from babel (data.money), so the rate is computed here rather than in SQL.
    converted = bind.execute(
        sa.select(
            payments.c.id, payments.c.amount, payments.c.currency, payments.c.base_amount, payments.c.base_currency
        ).where(payments.c.base_amount.is_not(None), payments.c.base_currency != payments.c.currency)
    ).all()
    updates = []
    for payment_id, amount, currency, base_amount, base_currency in converted:
        rate = conversion_rate(amount, currency, base_amount, base_currency)
        if rate is not None:
            updates.append({"pid": payment_id, "rate": rate})
    if updates:
        bind.execute(
            payments.update().where(payments.c.id == sa.bindparam("pid")).values(conversion_rate=sa.bindparam("rate")),
            updates,
        )


def downgrade() -> None:
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_column("conversion_rate")
