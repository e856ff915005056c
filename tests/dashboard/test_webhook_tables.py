"""Webhook health's late, duplicate and status-conflict tables: each says its true count ("Showing
1,000 of M") and its prepared CSV holds all M rows (issue 12, silent truncation)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import timedelta

import pytest

from dashboard.roles import Role
from data.db import make_engine
from data.models import Payment, WebhookEvent
from data.upsert import upsert
from tests.dashboard.conftest import AppFactory, Seeded
from tests.support.clock import TEST_NOW
from tests.support.dashboard_seed import payment_row, seed_dashboard_database
from tests.support.databases import BACKENDS, MigratedDatabase, drop_database
from tests.support.exports import prepared_csv

EXTRA = 1_020  # more than a table shows (1,000)


@pytest.fixture(scope="module", params=BACKENDS)
def seeded(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    migrated_database: MigratedDatabase,
) -> Iterator[Seeded]:
    """The dashboard seed plus 1,020 captured payments whose one event each came twice, ten minutes
    late, saying "refunded" (a status the API contradicts): late, duplicate and a conflict at once."""
    backend = str(request.param)
    url = migrated_database(backend, tmp_path_factory.mktemp("webhook-tables-db"))
    engine = make_engine(url)
    facts = seed_dashboard_database(engine, now=TEST_NOW)
    rng = random.Random(12)
    payments, events = [], []
    for n in range(EXTRA):
        row = payment_row(200_000 + n, TEST_NOW - timedelta(days=2, seconds=n), rng)
        row.update(status="captured", captured=True, currency="INR", error_reason=None)
        payments.append(row)
        late = row["created_at"] + timedelta(minutes=10, milliseconds=n)
        events.append(
            {
                "event_id": f"evt_late{n:06d}",
                "event_type": "payment.captured",
                "known_type": True,
                "account_id": "acc_seed",
                "created_at": row["created_at"],
                "received_at": late,
                "last_received_at": late + timedelta(seconds=5),
                "delivery_count": 2,
                "lag_ms": 600_000 + n,
                "payment_id": row["id"],
                "order_id": row["order_id"],
                "refund_id": None,
                "settlement_id": None,
                "entity_status": "refunded",
                "applied": True,
                "apply_error": None,
                "payload": {"event": "payment"},
            }
        )
    with engine.begin() as conn:
        upsert(conn, Payment, payments)
        upsert(conn, WebhookEvent, events)
    yield Seeded(url, engine, facts)
    engine.dispose()
    drop_database(backend, url)


@pytest.mark.parametrize(
    ("kind", "column"),
    [("late", "lag_ms"), ("duplicates", "delivery_count"), ("conflicts", "webhook_status")],
)
def test_webhook_table_says_its_true_count_and_exports_every_row(
    app_for: AppFactory, seeded: Seeded, kind: str, column: str
) -> None:
    at = app_for(Role.OPERATIONS, "webhook_health", period="last_30_days")
    assert not at.exception, [e.value for e in at.exception]
    (shown,) = [f.value for f in at.dataframe if column in f.value.columns]
    assert len(shown) == 1_000
    prepare = next(b for b in at.button if b.key == f"prepare_webhook-{kind}")
    total = int(prepare.label.removeprefix("Prepare CSV (").removesuffix(" rows)").replace(",", ""))
    assert total >= EXTRA  # the planted rows (the seed may add its own)
    assert f"Showing 1,000 of {total:,} rows; the CSV has all {total:,}." in [c.value for c in at.caption]
    prepare.click().run()
    assert not at.exception, [e.value for e in at.exception]
    rows = prepared_csv(at, f"webhook-{kind}")
    assert len(rows) == total
    ids = {row["Event id"] for row in rows}
    assert {f"evt_late{n:06d}" for n in range(EXTRA)} <= ids
