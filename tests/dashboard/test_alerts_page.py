"""The Alerts page: firing alerts first, finance sees only the money ones, acknowledge and snooze are
recorded with who (and audited), and a link (?alert=ID) opens one alert's details. Also what this change
added to Success rates: the breakdown from an alert's link, and the order-level rate."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert, select

from analytics import alerts
from analytics.filters import Filters
from analytics.orders import order_success
from dashboard import queries
from dashboard.format import plain
from dashboard.roles import Role
from data.models import AuditLog, Mismatch, SyncCheckpoint
from tests.dashboard.conftest import AppFactory, Seeded
from tests.support.factories import payment, write

T0 = datetime(2026, 11, 24, 6, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def fired(seeded: Seeded) -> dict[str, int]:
    """A stale sync (operations) and a burst of new mismatches (money), evaluated at a fixed moment."""
    with seeded.engine.begin() as conn:
        conn.execute(insert(SyncCheckpoint).values(entity="alerts_test", synced_until=T0, run_id=None))
        conn.execute(
            insert(Mismatch),
            [
                {
                    "key": f"alerts_page:{i}",
                    "rule": "settlement_line_amount_mismatch",
                    "severity": "high",
                    "status": "open",
                    "auto_resolved": False,
                    "currency": "INR",
                    "expected_amount": 10_000,
                    "explanation": "test",
                    "evidence": {},
                    "first_seen_at": T0 + timedelta(hours=2),
                    "last_seen_at": T0 + timedelta(hours=2),
                }
                for i in range(12)
            ],
        )
    evaluation = alerts.evaluate(
        seeded.engine, at=T0 + timedelta(hours=3), only=["sync_stale", "new_mismatches"]
    )
    return {alert["rule"]: int(alert["id"]) for alert in evaluation.fired}


def test_operations_sees_firing_alerts_and_acknowledges_one(
    app_for: AppFactory, seeded: Seeded, fired: dict[str, int]
) -> None:
    assert set(fired) == {"sync_stale", "new_mismatches"}
    at = app_for(Role.OPERATIONS, "alerts")
    assert not at.exception, [e.value for e in at.exception]
    shown = at.dataframe(key="alerts_firing").value
    # Most severe first: both are "high"; then newest; every firing alert is listed.
    assert set(shown["id"]) == set(fired.values())
    assert {m.label: m.value for m in at.metric}["Firing"] == "2"

    at.selectbox(key="alert_pick").set_value(fired["sync_stale"]).run()
    assert any(plain("alerts_test: synced only up to") in m.value for m in at.markdown)
    next(b for b in at.button if b.label == "Acknowledge").click().run()
    assert not at.exception
    stored = alerts.get_alert(seeded.engine, fired["sync_stale"])
    assert stored is not None and stored["acknowledged_by"] == "operations-tester"
    with seeded.engine.connect() as conn:
        audit = conn.execute(
            select(AuditLog.actor).where(
                AuditLog.action == "alert.acknowledge", AuditLog.target == f"alert:{fired['sync_stale']}"
            )
        ).all()
    assert [row.actor for row in audit] == ["operations-tester"]


def test_finance_sees_only_money_alerts_and_a_link_opens_one(
    app_for: AppFactory, seeded: Seeded, fired: dict[str, int]
) -> None:
    at = app_for(Role.FINANCE, "alerts", alert=str(fired["new_mismatches"]))
    assert not at.exception, [e.value for e in at.exception]
    assert list(at.dataframe(key="alerts_firing").value["id"]) == [fired["new_mismatches"]]
    assert at.selectbox(key="alert_pick").value == fired["new_mismatches"]
    assert any(plain("12 new mismatches in the last 24 hours") in m.value for m in at.markdown)

    at.selectbox(key="alert_snooze_for").set_value("4 hours")
    next(b for b in at.button if b.label == "Snooze notifications").click().run()
    assert not at.exception
    stored = alerts.get_alert(seeded.engine, fired["new_mismatches"])
    assert stored is not None and stored["snoozed_by"] == "finance-tester"
    assert stored["snoozed_until"] is not None


def test_a_success_drop_link_opens_its_breakdown(app_for: AppFactory, seeded: Seeded) -> None:
    first, last = seeded.facts["first_day"].isoformat(), seeded.facts["last_day"].isoformat()
    at = app_for(Role.MANAGER, "success_rates", period="custom", **{"from": first, "to": last}, by="bank")
    assert not at.exception, [e.value for e in at.exception]
    assert at.segmented_control(key="success_by").value == "bank"
    # The period includes today, so there is no previous-period column (whole days only are compared).
    assert any({"bank", "failures"} <= set(frame.value.columns) for frame in at.dataframe)


def test_success_rates_shows_the_order_level_rate_beside_the_attempt_rate(
    app_for: AppFactory, seeded: Seeded
) -> None:
    first, last = seeded.facts["first_day"], seeded.facts["last_day"]
    at = app_for(
        Role.MANAGER, "success_rates", period="custom", **{"from": first.isoformat(), "to": last.isoformat()}
    )
    assert not at.exception, [e.value for e in at.exception]
    shown = next(f.value for f in at.dataframe if "order_success_rate" in f.value.columns)
    expected = order_success(seeded.engine, Filters(date_from=first, date_to=last))
    assert list(shown["first_method"]) == list(expected["first_method"])
    assert list(shown["orders_paid"]) == list(expected["orders_paid"])
    assert any("Order success rate" in c.value for c in at.caption)


def test_a_fraud_alerts_link_opens_the_risk_page_on_its_signal_kind(
    app_for: AppFactory, seeded: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    # After the seed's data and a year after the other Risk test's burst: only this burst is recent.
    at = datetime(2031, 1, 7, 12, 0, tzinfo=UTC)
    burst = []
    for i in range(6):
        created = at - timedelta(minutes=20 - i)
        burst.append(
            payment(
                f"pay_kind_{i}",
                method="card",
                card_network="Visa",
                card_last4=f"{4000 + i}",
                amount=100,
                status="failed",
                email="kinds@example.com",
                created_at=created,
                state_at=created,
            )
        )
    with seeded.engine.begin() as conn:
        write(conn, "payments", *burst)
    monkeypatch.setattr(queries, "now", lambda: at)

    # Six cards in minutes: card testing and a velocity outlier; the link's kind shows only its own.
    every = app_for(Role.MANAGER, "risk")
    assert {"card_testing", "velocity"} <= set(every.dataframe(key="risk_signals").value["kind"])
    linked = app_for(Role.MANAGER, "risk", kind="card_testing")
    assert not linked.exception, [e.value for e in linked.exception]
    assert linked.selectbox(key="risk_kind").value == "card_testing"
    assert set(linked.dataframe(key="risk_signals").value["kind"]) == {"card_testing"}


def test_risk_page_shows_a_card_testing_burst_with_contacts_masked_for_managers(
    app_for: AppFactory, seeded: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = datetime(2030, 1, 7, 12, 0, tzinfo=UTC)  # after the seed's data: only this burst is recent
    burst = []
    for i in range(6):
        created = at - timedelta(minutes=20 - i)
        burst.append(
            payment(
                f"pay_risk_{i}",
                method="card",
                card_network="Visa",
                card_last4=f"{3000 + i}",
                amount=100,
                status="failed",
                email="carder@example.com",
                created_at=created,
                state_at=created,
            )
        )
    with seeded.engine.begin() as conn:
        write(conn, "payments", *burst)
    monkeypatch.setattr(queries, "now", lambda: at)

    manager = app_for(Role.MANAGER, "risk")
    assert not manager.exception, [e.value for e in manager.exception]
    signals = manager.dataframe(key="risk_signals").value
    card_testing = signals[signals["kind"] == "card_testing"]
    assert list(card_testing["subject"]) == ["email:ca****@example.com"]
    assert list(card_testing["payments"]) == [6]
    manager.selectbox(key="risk_pick").set_value(int(card_testing.index[0])).run()
    behind = manager.dataframe(key="table_risk-card_testing-payments").value
    assert sorted(behind["id"]) == sorted(row["id"] for row in burst)
    assert set(behind["email"]) == {"ca****@example.com"}

    finance = app_for(Role.FINANCE, "risk")
    subjects = finance.dataframe(key="risk_signals").value["subject"]
    assert "email:carder@example.com" in set(subjects)
