"""Schema upgrade from empty, on both databases."""

from __future__ import annotations

from sqlalchemy import Engine, inspect

from data.db import make_engine
from data.migrate import current_revision, upgrade

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
    "sync_leases",
    "quarantine",
    "mismatches",
    "mismatch_events",
    "audit_log",
}


def test_upgrade_from_empty_creates_every_table(empty_database_url: str) -> None:
    engine = make_engine(empty_database_url)
    assert current_revision(engine) is None
    upgrade(engine)
    tables = set(inspect(engine).get_table_names())
    assert EXPECTED_TABLES <= tables
    assert current_revision(engine) is not None
    # Running it again is a no-op, not an error.
    upgrade(engine)
    assert EXPECTED_TABLES <= set(inspect(engine).get_table_names())
    engine.dispose()


def test_payments_have_indexes_for_the_obvious_filters(engine: Engine) -> None:
    indexed = {tuple(ix["column_names"]) for ix in inspect(engine).get_indexes("payments")}
    for column in ("created_at", "status", "method", "order_id"):
        assert (column,) in indexed
