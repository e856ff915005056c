"""Settlements with more settlements in the period than the table lists: the cards per currency come
from COUNT/SUM in SQL (not from the listed 500), the table says "Showing the newest N of M settlements"
and its CSV holds all M; the bank credits say the same of theirs (issue 12, silent truncation)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import Engine, func, select
from streamlit.testing.v1 import AppTest

from dashboard import bank
from dashboard.format import money, plain
from dashboard.roles import Role
from data.models import Settlement
from data.upsert import upsert
from tests.dashboard.conftest import AppFactory, Seeded, seeded_database
from tests.dashboard.test_pages import metrics, period
from tests.support.clock import TEST_NOW
from tests.support.databases import BACKENDS, MigratedDatabase
from tests.support.exports import prepare_csv

INR_PLANTED = 520  # more than the table lists (500)
SHORT = 7  # the oldest INR settlements: a payout and no lines, so they do not add up
USD_PLANTED = 3  # the newest of all: they take rows of the listed 500 but are not INR's
CREDITS_LISTED = 100  # the bank-credit list's cap, made small


def _settlement(number: int, currency: str, amount: int, minutes_ago: int) -> dict[str, object]:
    created = TEST_NOW - timedelta(days=1, minutes=minutes_ago)
    return {
        "id": f"setl_many{number:05d}",
        "amount": amount,
        "currency": currency,
        "status": "processed",
        "fees": 0,
        "tax": 0,
        "utr": f"UTRMANY{number:05d}",
        "created_at": created,
        "state_at": created,
        "source": "api",
        "raw": {"id": f"setl_many{number:05d}"},
    }


def short_amount(number: int) -> int:
    return 1_000 * (number + 1)


def _plant_settlements(engine: Engine) -> None:
    inr = [
        # Numbered oldest first: the last SHORT are the oldest and carry a payout.
        _settlement(n, "INR", short_amount(n) if n >= INR_PLANTED - SHORT else 0, minutes_ago=USD_PLANTED + n)
        for n in range(INR_PLANTED)
    ]
    usd = [_settlement(INR_PLANTED + n, "USD", 0, minutes_ago=n) for n in range(USD_PLANTED)]
    with engine.begin() as conn:
        upsert(conn, Settlement, [*inr, *usd])


@pytest.fixture(scope="module", params=BACKENDS)
def seeded(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    migrated_database: MigratedDatabase,
) -> Iterator[Seeded]:
    yield from seeded_database(
        request, tmp_path_factory, migrated_database, "settlements-many-db", plant=_plant_settlements
    )


@pytest.fixture
def settlements_app(app_for: AppFactory, seeded: Seeded, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setattr(bank, "CREDITS_LISTED", CREDITS_LISTED)
    at = app_for(Role.FINANCE, "settlements", **period(seeded))
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_cards_count_and_sum_every_settlement_of_the_currency(
    settlements_app: AppTest, seeded: Seeded
) -> None:
    with seeded.engine.connect() as conn:
        payout = conn.execute(
            select(func.sum(Settlement.amount)).where(Settlement.currency == "INR")
        ).scalar_one()
    shown = metrics(settlements_app)
    assert shown["Net settled"] == money(int(payout), "INR")
    assert shown["Not adding up"] == str(SHORT)
    [warning] = [w.value for w in settlements_app.warning if w.value.startswith("Not adding up")]
    newest_short = [f"setl_many{n:05d}" for n in range(INR_PLANTED - SHORT, INR_PLANTED - SHORT + 5)]
    named = ", ".join(f"{plain(sid)} ({money(short_amount(int(sid[-5:])), 'INR')})" for sid in newest_short)
    assert warning.startswith(f"Not adding up: {named} and {SHORT - 5} more.")


def test_the_table_says_how_many_settlements_there_are_and_the_csv_holds_them_all(
    settlements_app: AppTest, seeded: Seeded
) -> None:
    with seeded.engine.connect() as conn:
        inr_ids = set(conn.execute(select(Settlement.id).where(Settlement.currency == "INR")).scalars())
    assert len(inr_ids) > INR_PLANTED  # and the seed's own
    at = settlements_app
    (listed,) = [f.value for f in at.dataframe if "lines_net" in f.value.columns]
    assert set(listed["currency"]) == {"INR"}
    listed_inr = 500 - USD_PLANTED  # the newest 500 of every currency, the USD ones not shown
    assert len(listed) == listed_inr
    total = len(inr_ids)
    captions = [c.value for c in at.caption]
    assert f"Showing the newest {listed_inr} of {total} settlements; the CSV has all {total}." in captions
    rows = prepare_csv(at, "settlements")
    assert {row["Id"] for row in rows} == inr_ids
    assert len(rows) == total
    short = {
        row["Id"]: int(row["Difference (minor units)"])
        for row in rows
        if row["Difference (minor units)"] != "0"
    }
    assert short == {f"setl_many{n:05d}": short_amount(n) for n in range(INR_PLANTED - SHORT, INR_PLANTED)}


def test_bank_credits_say_how_many_there_are_and_the_csv_holds_them_all(
    settlements_app: AppTest, seeded: Seeded
) -> None:
    with seeded.engine.connect() as conn:
        processed = set(conn.execute(select(Settlement.id).where(Settlement.status == "processed")).scalars())
    at = settlements_app
    (credits,) = [f.value for f in at.dataframe if "credited_amount" in f.value.columns]
    assert len(credits) == CREDITS_LISTED
    total = len(processed)
    captions = [c.value for c in at.caption]
    assert f"Showing the newest {CREDITS_LISTED} of {total} settlements; the CSV has all {total}." in captions
    rows = prepare_csv(at, "settlement-bank-credits")
    assert len(rows) == total
    assert {row["Settlement id"] for row in rows} == processed
