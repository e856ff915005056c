"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-26 01:29:23.413049
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import data.models
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("at", data.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("action", sa.String(length=48), nullable=False),
        sa.Column("target", sa.String(length=200), nullable=True),
        sa.Column(
            "detail",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_log_action"), ["action"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_log_at"), ["at"], unique=False)

    op.create_table(
        "mismatches",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("rule", sa.String(length=48), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("auto_resolved", sa.Boolean(), nullable=False),
        sa.Column("payment_id", sa.String(length=40), nullable=True),
        sa.Column("order_id", sa.String(length=40), nullable=True),
        sa.Column("refund_id", sa.String(length=40), nullable=True),
        sa.Column("settlement_id", sa.String(length=40), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("expected_amount", sa.BigInteger(), nullable=True),
        sa.Column("actual_amount", sa.BigInteger(), nullable=True),
        sa.Column("explanation", sa.Text(), nullable=False),
        sa.Column(
            "evidence",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("first_seen_at", data.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", data.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", data.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("updated_by", sa.String(length=128), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mismatches")),
        sa.UniqueConstraint("key", name=op.f("uq_mismatches_key")),
    )
    with op.batch_alter_table("mismatches", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_mismatches_first_seen_at"), ["first_seen_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_mismatches_order_id"), ["order_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_mismatches_payment_id"), ["payment_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_mismatches_refund_id"), ["refund_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_mismatches_rule"), ["rule"], unique=False)
        batch_op.create_index(batch_op.f("ix_mismatches_settlement_id"), ["settlement_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_mismatches_status"), ["status"], unique=False)

    op.create_table(
        "orders",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("amount_paid", sa.BigInteger(), nullable=False),
        sa.Column("amount_due", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("receipt", sa.String(length=64), nullable=True),
        sa.Column("created_at", data.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("state_at", data.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column(
            "raw",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("updated_at", data.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders")),
    )
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_orders_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_orders_status"), ["status"], unique=False)

    op.create_table(
        "payments",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("order_id", sa.String(length=40), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("method", sa.String(length=32), nullable=True),
        sa.Column("international", sa.Boolean(), nullable=False),
        sa.Column("captured", sa.Boolean(), nullable=False),
        sa.Column("amount_refunded", sa.BigInteger(), nullable=False),
        sa.Column("refund_status", sa.String(length=16), nullable=True),
        sa.Column("fee", sa.BigInteger(), nullable=True),
        sa.Column("tax", sa.BigInteger(), nullable=True),
        sa.Column("bank", sa.String(length=32), nullable=True),
        sa.Column("wallet", sa.String(length=32), nullable=True),
        sa.Column("card_network", sa.String(length=32), nullable=True),
        sa.Column("card_type", sa.String(length=16), nullable=True),
        sa.Column("card_issuer", sa.String(length=32), nullable=True),
        sa.Column("card_international", sa.Boolean(), nullable=True),
        sa.Column("card_last4", sa.String(length=4), nullable=True),
        sa.Column("upi_flow", sa.String(length=16), nullable=True),
        sa.Column("upi_app", sa.String(length=64), nullable=True),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("contact", sa.String(length=32), nullable=True),
        sa.Column("country", sa.String(length=2), nullable=True),
        sa.Column("country_source", sa.String(length=24), nullable=False),
        sa.Column("error_code", sa.String(length=64), nullable=True),
        sa.Column("error_description", sa.Text(), nullable=True),
        sa.Column("error_source", sa.String(length=64), nullable=True),
        sa.Column("error_step", sa.String(length=64), nullable=True),
        sa.Column("error_reason", sa.String(length=128), nullable=True),
        sa.Column("created_at", data.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("state_at", data.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column(
            "raw",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("updated_at", data.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payments")),
    )
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_payments_contact"), ["contact"], unique=False)
        batch_op.create_index(batch_op.f("ix_payments_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_payments_currency"), ["currency"], unique=False)
        batch_op.create_index(batch_op.f("ix_payments_email"), ["email"], unique=False)
        batch_op.create_index(batch_op.f("ix_payments_method"), ["method"], unique=False)
        batch_op.create_index(batch_op.f("ix_payments_order_id"), ["order_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_payments_status"), ["status"], unique=False)
        batch_op.create_index("ix_payments_status_created_at", ["status", "created_at"], unique=False)

    op.create_table(
        "quarantine",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("entity", sa.String(length=32), nullable=False),
        sa.Column("entity_id", sa.String(length=64), nullable=True),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("raw", sa.Text(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("first_seen_at", data.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", data.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("run_id", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quarantine")),
        sa.UniqueConstraint("fingerprint", name=op.f("uq_quarantine_fingerprint")),
    )
    with op.batch_alter_table("quarantine", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_quarantine_entity"), ["entity"], unique=False)
        batch_op.create_index(batch_op.f("ix_quarantine_first_seen_at"), ["first_seen_at"], unique=False)

    op.create_table(
        "refunds",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("payment_id", sa.String(length=40), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("speed_processed", sa.String(length=16), nullable=True),
        sa.Column("created_at", data.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("state_at", data.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column(
            "raw",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("updated_at", data.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refunds")),
    )
    with op.batch_alter_table("refunds", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_refunds_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_refunds_payment_id"), ["payment_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_refunds_status"), ["status"], unique=False)

    op.create_table(
        "settlement_lines",
        sa.Column("entity_id", sa.String(length=40), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("payment_id", sa.String(length=40), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("fee", sa.BigInteger(), nullable=False),
        sa.Column("tax", sa.BigInteger(), nullable=False),
        sa.Column("debit", sa.BigInteger(), nullable=False),
        sa.Column("credit", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("on_hold", sa.Boolean(), nullable=False),
        sa.Column("settled", sa.Boolean(), nullable=False),
        sa.Column("settlement_id", sa.String(length=40), nullable=True),
        sa.Column("settlement_utr", sa.String(length=64), nullable=True),
        sa.Column("settled_at", data.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("order_id", sa.String(length=40), nullable=True),
        sa.Column("method", sa.String(length=32), nullable=True),
        sa.Column("card_network", sa.String(length=32), nullable=True),
        sa.Column("created_at", data.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column(
            "raw",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("updated_at", data.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("entity_id", name=op.f("pk_settlement_lines")),
    )
    with op.batch_alter_table("settlement_lines", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_settlement_lines_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_settlement_lines_payment_id"), ["payment_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_settlement_lines_settlement_id"), ["settlement_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_settlement_lines_type"), ["type"], unique=False)
        batch_op.create_index("ix_settlement_lines_type_payment", ["type", "payment_id"], unique=False)

    op.create_table(
        "settlements",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("fees", sa.BigInteger(), nullable=False),
        sa.Column("tax", sa.BigInteger(), nullable=False),
        sa.Column("utr", sa.String(length=64), nullable=True),
        sa.Column("created_at", data.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("state_at", data.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column(
            "raw",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("updated_at", data.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_settlements")),
    )
    with op.batch_alter_table("settlements", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_settlements_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_settlements_status"), ["status"], unique=False)

    op.create_table(
        "sync_checkpoints",
        sa.Column("entity", sa.String(length=32), nullable=False),
        sa.Column("synced_until", data.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("run_id", sa.BigInteger(), nullable=True),
        sa.Column("updated_at", data.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("entity", name=op.f("pk_sync_checkpoints")),
    )
    op.create_table(
        "sync_runs",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("started_at", data.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", data.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column(
            "counts",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_runs")),
    )
    with op.batch_alter_table("sync_runs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sync_runs_started_at"), ["started_at"], unique=False)

    op.create_table(
        "webhook_events",
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("event_type", sa.String(length=64), nullable=False),
        sa.Column("known_type", sa.Boolean(), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", data.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("received_at", data.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_received_at", data.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("delivery_count", sa.Integer(), nullable=False),
        sa.Column("lag_ms", sa.BigInteger(), nullable=False),
        sa.Column("payment_id", sa.String(length=40), nullable=True),
        sa.Column("order_id", sa.String(length=40), nullable=True),
        sa.Column("refund_id", sa.String(length=40), nullable=True),
        sa.Column("settlement_id", sa.String(length=40), nullable=True),
        sa.Column("entity_status", sa.String(length=16), nullable=True),
        sa.Column("applied", sa.Boolean(), nullable=False),
        sa.Column("apply_error", sa.Text(), nullable=True),
        sa.Column(
            "payload",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_webhook_events")),
    )
    with op.batch_alter_table("webhook_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_webhook_events_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_webhook_events_event_type"), ["event_type"], unique=False)
        batch_op.create_index(batch_op.f("ix_webhook_events_order_id"), ["order_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_webhook_events_payment_id"), ["payment_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_webhook_events_received_at"), ["received_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_webhook_events_refund_id"), ["refund_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_webhook_events_settlement_id"), ["settlement_id"], unique=False)

    op.create_table(
        "webhook_rejections",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("received_at", data.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=True),
        sa.Column("event_type", sa.String(length=64), nullable=True),
        sa.Column("body_sha256", sa.String(length=64), nullable=False),
        sa.Column("body_size", sa.Integer(), nullable=False),
        sa.Column("source_address", sa.String(length=64), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_rejections")),
    )
    with op.batch_alter_table("webhook_rejections", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_webhook_rejections_reason"), ["reason"], unique=False)
        batch_op.create_index(batch_op.f("ix_webhook_rejections_received_at"), ["received_at"], unique=False)

    op.create_table(
        "mismatch_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("mismatch_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("at", data.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("from_status", sa.String(length=16), nullable=True),
        sa.Column("to_status", sa.String(length=16), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["mismatch_id"],
            ["mismatches.id"],
            name=op.f("fk_mismatch_events_mismatch_id_mismatches"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mismatch_events")),
    )
    with op.batch_alter_table("mismatch_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_mismatch_events_mismatch_id"), ["mismatch_id"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("mismatch_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_mismatch_events_mismatch_id"))

    op.drop_table("mismatch_events")
    with op.batch_alter_table("webhook_rejections", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_webhook_rejections_received_at"))
        batch_op.drop_index(batch_op.f("ix_webhook_rejections_reason"))

    op.drop_table("webhook_rejections")
    with op.batch_alter_table("webhook_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_webhook_events_settlement_id"))
        batch_op.drop_index(batch_op.f("ix_webhook_events_refund_id"))
        batch_op.drop_index(batch_op.f("ix_webhook_events_received_at"))
        batch_op.drop_index(batch_op.f("ix_webhook_events_payment_id"))
        batch_op.drop_index(batch_op.f("ix_webhook_events_order_id"))
        batch_op.drop_index(batch_op.f("ix_webhook_events_event_type"))
        batch_op.drop_index(batch_op.f("ix_webhook_events_created_at"))

    op.drop_table("webhook_events")
    with op.batch_alter_table("sync_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sync_runs_started_at"))

    op.drop_table("sync_runs")
    op.drop_table("sync_checkpoints")
    with op.batch_alter_table("settlements", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_settlements_status"))
        batch_op.drop_index(batch_op.f("ix_settlements_created_at"))

    op.drop_table("settlements")
    with op.batch_alter_table("settlement_lines", schema=None) as batch_op:
        batch_op.drop_index("ix_settlement_lines_type_payment")
        batch_op.drop_index(batch_op.f("ix_settlement_lines_type"))
        batch_op.drop_index(batch_op.f("ix_settlement_lines_settlement_id"))
        batch_op.drop_index(batch_op.f("ix_settlement_lines_payment_id"))
        batch_op.drop_index(batch_op.f("ix_settlement_lines_created_at"))

    op.drop_table("settlement_lines")
    with op.batch_alter_table("refunds", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_refunds_status"))
        batch_op.drop_index(batch_op.f("ix_refunds_payment_id"))
        batch_op.drop_index(batch_op.f("ix_refunds_created_at"))

    op.drop_table("refunds")
    with op.batch_alter_table("quarantine", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_quarantine_first_seen_at"))
        batch_op.drop_index(batch_op.f("ix_quarantine_entity"))

    op.drop_table("quarantine")
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_index("ix_payments_status_created_at")
        batch_op.drop_index(batch_op.f("ix_payments_status"))
        batch_op.drop_index(batch_op.f("ix_payments_order_id"))
        batch_op.drop_index(batch_op.f("ix_payments_method"))
        batch_op.drop_index(batch_op.f("ix_payments_email"))
        batch_op.drop_index(batch_op.f("ix_payments_currency"))
        batch_op.drop_index(batch_op.f("ix_payments_created_at"))
        batch_op.drop_index(batch_op.f("ix_payments_contact"))

    op.drop_table("payments")
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_orders_status"))
        batch_op.drop_index(batch_op.f("ix_orders_created_at"))

    op.drop_table("orders")
    with op.batch_alter_table("mismatches", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_mismatches_status"))
        batch_op.drop_index(batch_op.f("ix_mismatches_settlement_id"))
        batch_op.drop_index(batch_op.f("ix_mismatches_rule"))
        batch_op.drop_index(batch_op.f("ix_mismatches_refund_id"))
        batch_op.drop_index(batch_op.f("ix_mismatches_payment_id"))
        batch_op.drop_index(batch_op.f("ix_mismatches_order_id"))
        batch_op.drop_index(batch_op.f("ix_mismatches_first_seen_at"))

    op.drop_table("mismatches")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_log_at"))
        batch_op.drop_index(batch_op.f("ix_audit_log_action"))

    op.drop_table("audit_log")
