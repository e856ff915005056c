"""Overview with more currencies than it has money cards: the cards show the busiest four and say so,
and the per-currency table lists every currency (a finance user must not read four cards as the whole)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import Engine

from dashboard.roles import Role
from data.models import Payment
from data.rollups import after_payments_written
from data.upsert import upsert
from tests.dashboard.conftest import AppFactory, Seeded, seeded_database
from tests.dashboard.test_pages import metrics, period, table
from tests.support.clock import TEST_NOW
from tests.support.dashboard_seed import payment_row
from tests.support.databases import BACKENDS, MigratedDatabase

EXTRA_CURRENCIES = ("GBP", "EUR", "AED")  # with the seed's INR and USD: five


def _plant_currencies(engine: Engine) -> None:
    rng = random.Random(5)
    rows = []
    for n, currency in enumerate(EXTRA_CURRENCIES):
        # Fewer attempts than INR and USD, and fewer for each later currency: AED is the quietest.
        for k in range(3 - n):
            row = payment_row(300_000 + 10 * n + k, TEST_NOW - timedelta(days=1, minutes=k), rng)
            row.update(currency=currency, status="captured", captured=True, error_reason=None)
            rows.append(row)
    with engine.begin() as conn:
        upsert(conn, Payment, rows)
        after_payments_written(conn, rows)  # the rollups the Overview reads, as the sync keeps them


@pytest.fixture(scope="module", params=BACKENDS)
def seeded(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    migrated_database: MigratedDatabase,
) -> Iterator[Seeded]:
    yield from seeded_database(
        request, tmp_path_factory, migrated_database, "overview-currencies-db", plant=_plant_currencies
    )


def test_four_money_cards_say_they_are_the_busiest_of_five_and_the_table_has_all(
    app_for: AppFactory, seeded: Seeded
) -> None:
    at = app_for(Role.FINANCE, "overview", **period(seeded))
    assert not at.exception, [e.value for e in at.exception]
    cards = [label for label in metrics(at) if label.startswith("Successful value (")]
    assert cards == [f"Successful value ({c})" for c in ("INR", "USD", "GBP", "EUR")]
    captions = [c.value for c in at.caption]
    assert any(c.startswith("The 4 busiest of 5 currencies (by attempts)") for c in captions), captions
    assert set(table(at, "currency", "attempts")["currency"]) == {"INR", "USD", *EXTRA_CURRENCIES}
