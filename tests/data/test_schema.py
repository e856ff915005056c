"""Schema upgrade from empty, on both databases: the one place every test session runs all migrations
from nothing (other tests copy a migrated template, tests/conftest.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, insert, inspect, select

from data.db import make_engine
from data.migrate import current_revision, upgrade
from data.models import Base, Payment

EXPECTED_TABLES = {
    "payments",
    "orders",
    "refunds",
    "settlements",
    "settlement_lines",
    "disputes",
    "downtimes",
    "webhook_events",
    "webhook_rejections",
    "sync_checkpoints",
    "sync_runs",
    "sync_leases",
    "quarantine",
    "mismatches",
    "mismatch_events",
    "audit_log",
    "bank_statements",
    "bank_statement_lines",
    "bank_matches",
    "reconcile_runs",
}


def test_upgrade_from_empty_creates_every_table(empty_database_url: str) -> None:
    engine = make_engine(empty_database_url)
    assert current_revision(engine) is None
    upgrade(engine)
    tables = set(inspect(engine).get_table_names())
    assert EXPECTED_TABLES <= tables
    assert current_revision(engine) is not None
    # The migrations build exactly what the models declare (tables, columns, indexes).
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
    # Running it again is a no-op, not an error.
    upgrade(engine)
    assert EXPECTED_TABLES <= set(inspect(engine).get_table_names())
    engine.dispose()


def test_payments_have_indexes_for_the_obvious_filters(engine: Engine) -> None:
    indexed = {tuple(ix["column_names"]) for ix in inspect(engine).get_indexes("payments")}
    for column in ("created_at", "order_id"):
        assert (column,) in indexed
    # status leads (status, created_at, id, …), which serves a filter on status alone as well; it also
    # carries what "not settled yet" and "missing webhook" read, so they never leave the index.
    assert ("status", "created_at", "id", "currency", "captured", "amount") in indexed
    # Low-cardinality columns have no index of their own: SQLite's sampled statistics rate
    # `method = 'card'` as selective and walked every card payment instead of the period (migration 0017).
    assert not {("method",), ("currency",), ("status",)} & indexed


def test_upgrade_to_0004_backfills_base_amounts(empty_database_url: str) -> None:
    engine = make_engine(empty_database_url)
    upgrade(engine, "0003")
    at = datetime(2026, 11, 1, tzinfo=UTC)
    common = {"status": "captured", "created_at": at, "state_at": at, "source": "api", "raw": {}}
    rows = [
        {"id": "pay_inr", "amount": 50_000, "currency": "INR", **common},
        {
            **common,
            "id": "pay_usd",
            "amount": 100,
            "currency": "USD",
            "raw": {"base_amount": 8316, "base_currency": "INR"},
        },
        {"id": "pay_eur", "amount": 100, "currency": "EUR", **common},
    ]
    with engine.begin() as conn:
        # Only the given columns (and those with defaults) are written: base_* do not exist yet.
        for row in rows:
            conn.execute(insert(Payment).values(**row))
    upgrade(engine)
    with engine.connect() as conn:
        stored = {
            row.id: (row.base_amount, row.base_currency)
            for row in conn.execute(select(Payment.id, Payment.base_amount, Payment.base_currency))
        }
    assert stored == {"pay_inr": (50_000, "INR"), "pay_usd": (8316, "INR"), "pay_eur": (None, None)}
    engine.dispose()


def test_upgrade_to_0011_backfills_the_conversion_rate_of_converted_payments(empty_database_url: str) -> None:
    engine = make_engine(empty_database_url)
    upgrade(engine, "0010")
    at = datetime(2026, 11, 1, tzinfo=UTC)
    common = {"status": "captured", "created_at": at, "state_at": at, "source": "api", "raw": {}}
    rows = [
        # Razorpay's currency-conversion sample: $1.00 credited as ₹71.29.
        {
            **common,
            "id": "pay_usd",
            "amount": 100,
            "currency": "USD",
            "base_amount": 7129,
            "base_currency": "INR",
        },
        # JPY has no minor unit: ¥1,000 credited as ₹566.40 is 0.5664 INR per JPY.
        {
            **common,
            "id": "pay_jpy",
            "amount": 1000,
            "currency": "JPY",
            "base_amount": 56640,
            "base_currency": "INR",
        },
        {
            **common,
            "id": "pay_inr",
            "amount": 50_000,
            "currency": "INR",
            "base_amount": 50_000,
            "base_currency": "INR",
        },
        {**common, "id": "pay_eur", "amount": 100, "currency": "EUR"},
    ]
    with engine.begin() as conn:
        for row in rows:
            conn.execute(insert(Payment).values(**row))
    upgrade(engine)
    with engine.connect() as conn:
        stored = {
            row.id: row.conversion_rate for row in conn.execute(select(Payment.id, Payment.conversion_rate))
        }
    assert stored == {
        "pay_usd": Decimal("71.29"),
        "pay_jpy": Decimal("0.5664"),
        "pay_inr": None,
        "pay_eur": None,
    }
    engine.dispose()
