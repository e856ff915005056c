"""Drop two indexes every sync write pays for and no query needs

ix_settlement_lines_type: every query on settlement_lines.type (the rules' "has a payment/refund line",
reconcile scope) is served by ix_settlement_lines_type_payment, which starts with type.

ix_payments_currency: three values carry nearly every payment, and every page or rule that filters on
currency also bounds created_at (ix_payments_created_at, ix_payments_status_created_at) or joins from a
smaller table; the index was maintained on every payment write and chosen by no query plan.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02 05:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_settlement_lines_type", table_name="settlement_lines")
    op.drop_index("ix_payments_currency", table_name="payments")


def downgrade() -> None:
    op.create_index("ix_payments_currency", "payments", ["currency"], unique=False)
    op.create_index("ix_settlement_lines_type", "settlement_lines", ["type"], unique=False)
