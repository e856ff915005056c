"""Schema upgrade from empty, on both databases: the one place every test session runs all migrations
from nothing (other tests copy a migrated template, tests/conftest.py)."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect

from data.db import make_engine
from data.migrate import current_revision, upgrade
from data.models import Base

EXPECTED_TABLES = {
    "payments",
    "orders",
    "refunds",
    "settlements",
    "settlement_lines",
    "webhook_events",
    "webhook_rejections",
    "sync_checkpoints",
    "sync_runs",
    "quarantine",
    "mismatches",
    "mismatch_events",
    "audit_log",
    "bank_statements",
    "bank_statement_lines",
    "bank_matches",
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
    for column in ("created_at", "status", "method", "order_id"):
        assert (column,) in indexed
