"""The Alerts page counts every alert (its cards are COUNTs, not the length of the listed 500), says
"Showing 500 of M alerts" and its CSV holds all M; a success-rate alert's payments say "Showing 200 of N
payments" and their CSV holds all N (issue 12, silent truncation)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import Engine, func, insert, select
from streamlit.testing.v1 import AppTest

from analytics.alerts import ALERTS_LISTED
from dashboard import queries
from dashboard.roles import Role
from data.ist import IST
from data.models import Alert, Payment
from tests.dashboard.conftest import AppFactory, Seeded, seeded_database
from tests.support.clock import TEST_NOW
from tests.support.databases import BACKENDS, MigratedDatabase
from tests.support.exports import prepare_csv

RESOLVED = ALERTS_LISTED + 20  # more than the page lists, all of them history
DROP_ID = 1  # the firing success-rate alert, whose evidence names every seeded attempt
PAYMENTS_LISTED = 200


def _alert(number: int, **values: object) -> dict[str, object]:
    fired = TEST_NOW - timedelta(hours=2, minutes=number)
    return {
        "id": number,
        "key": f"truncation:{number}",
        "rule": "sync_stale",
        "severity": "medium",
        "category": "operations",
        "status": "resolved",
        "title": f"Planted alert {number}",
        "message": "planted",
        "evidence": {},
        "link": None,
        "first_fired_at": fired,
        "last_seen_at": fired,
        "resolved_at": fired + timedelta(minutes=1),
        # Every row names every column: an executemany takes its columns from the first row.
        "acknowledged_at": None,
        "acknowledged_by": None,
        "snoozed_until": None,
        **values,
    }


def _plant_alerts(engine: Engine) -> None:
    seeded_from = TEST_NOW - timedelta(days=30)
    firing = [
        _alert(
            DROP_ID,
            rule="success_drop",
            severity="high",
            category="payments",
            status="firing",
            resolved_at=None,
            evidence={"payments": {"from": seeded_from.isoformat(), "to": TEST_NOW.isoformat()}},
        ),
        _alert(2, status="firing", resolved_at=None, acknowledged_by="ops", acknowledged_at=TEST_NOW),
        _alert(3, status="firing", resolved_at=None, snoozed_until=TEST_NOW + timedelta(hours=1)),
    ]
    resolved = [_alert(number) for number in range(10, 10 + RESOLVED)]
    with engine.begin() as conn:
        conn.execute(insert(Alert), [*firing, *resolved])


@pytest.fixture(scope="module", params=BACKENDS)
def seeded(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    migrated_database: MigratedDatabase,
) -> Iterator[Seeded]:
    yield from seeded_database(request, tmp_path_factory, migrated_database, "alerts-db", plant=_plant_alerts)


@pytest.fixture
def alerts_app(app_for: AppFactory, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setattr(queries, "now", lambda: TEST_NOW)
    at = app_for(Role.OPERATIONS, "alerts")
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_alert_cards_count_every_alert_and_the_csv_holds_them_all(alerts_app: AppTest) -> None:
    at, total = alerts_app, RESOLVED + 3
    cards = {m.label: m.value for m in at.metric}
    assert cards == {"Firing": "3", "Acknowledged": "1", "Snoozed": "1", "Resolved": f"{RESOLVED:,}"}
    captions = [c.value for c in at.caption]
    assert f"Showing {ALERTS_LISTED:,} of {total:,} alerts; the CSV has all {total:,}." in captions
    firing = at.dataframe(key="alerts_firing").value
    assert len(firing) == 3
    # Who acknowledged it and until when it is snoozed read "—" when there is none, never "None".
    assert sorted(firing["acknowledged_by"]) == ["ops", "—", "—"]
    snoozed = sorted(firing["snoozed_until"])
    assert snoozed[-2:] == ["—", "—"] and snoozed[0].endswith(" IST"), snoozed
    listed = [len(f.value) for f in at.dataframe if "first_fired_at" in f.value.columns]
    assert listed == [3, ALERTS_LISTED - 3]  # firing, then the history the page has room for
    assert any(e.label == f"History ({RESOLVED:,} resolved)" for e in at.expander)
    rows = prepare_csv(at, "alerts")
    assert len(rows) == total
    assert {row["Title"] for row in rows} == {
        f"Planted alert {n}" for n in (1, 2, 3, *range(10, 10 + RESOLVED))
    }
    # Times as in every CSV: IST, written 2026-11-26 12:33:05 under a header that says so.
    oldest = next(row for row in rows if row["Title"] == f"Planted alert {9 + RESOLVED}")
    fired = (TEST_NOW - timedelta(hours=2, minutes=9 + RESOLVED)).astimezone(IST)
    assert oldest["First fired at (IST)"] == f"{fired:%Y-%m-%d %H:%M:%S}"


def test_a_success_drop_shows_its_true_payment_count_and_exports_every_payment(
    alerts_app: AppTest, seeded: Seeded
) -> None:
    with seeded.engine.connect() as conn:
        attempts = conn.execute(select(func.count()).where(Payment.status != "created")).scalar_one()
    assert attempts > PAYMENTS_LISTED  # the seed has more attempts than the table lists
    at = alerts_app
    at.selectbox(key="alert_pick").set_value(DROP_ID).run()
    assert not at.exception, [e.value for e in at.exception]
    shown = at.dataframe(key=f"table_alert-{DROP_ID}-payments").value
    assert len(shown) == PAYMENTS_LISTED
    captions = [c.value for c in at.caption]
    assert f"Showing {PAYMENTS_LISTED:,} of {attempts:,} payments; the CSV has all {attempts:,}." in captions
    rows = prepare_csv(at, f"alert-{DROP_ID}-payments")
    assert len(rows) == attempts
    with seeded.engine.connect() as conn:
        ids = set(conn.execute(select(Payment.id).where(Payment.status != "created")).scalars())
    assert {row["Id"] for row in rows} == ids


def test_a_link_to_an_alert_older_than_the_listed_ones_opens_it(
    app_for: AppFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(queries, "now", lambda: TEST_NOW)
    oldest = 9 + RESOLVED  # resolved longest ago: last in the order, beyond the listed ALERTS_LISTED
    at = app_for(Role.OPERATIONS, "alerts", alert=str(oldest))
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key="alert_pick").value == oldest
    assert any(f"Planted alert {oldest}" in m.value for m in at.markdown)
