"""Success rates → Razorpay downtimes: each declared downtime's value likely lost (₹, Indian grouping),
whether the drop began before Razorpay declared it, its chart with the downtime as a band, and a dip no
downtime covers called out as such."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import insert

from analytics.downtime_impact import downtime_impact
from dashboard.downtime_view import impact_sentence
from dashboard.roles import Role
from data.ist import IST
from data.models import Alert, Downtime
from tests.dashboard.conftest import AppFactory, Seeded
from tests.support.factories import payment, write

# Sunday 29 Nov 2026 (the session's pinned day is Monday 30 Nov): HDFC netbanking down 14:02–14:47 IST.
BEGIN = datetime(2026, 11, 29, 14, 2, tzinfo=IST).astimezone(UTC)
END = BEGIN + timedelta(minutes=45)
PERIOD = {"period": "custom", "from": "2026-11-23", "to": "2026-11-30"}


@pytest.fixture(scope="module")
def planted(seeded: Seeded) -> None:
    rows = []
    for m in range(45):
        at = BEGIN + timedelta(minutes=m, seconds=5)
        status = "failed" if m % 4 else "captured"
        rows.append(
            payment(
                f"pay_dt_{m}",
                status=status,
                method="netbanking",
                bank="HDFC",
                amount=1_234_567,
                created_at=at,
                state_at=at,
            )
        )
    for week in range(1, 5):
        for m in range(45):
            at = BEGIN - timedelta(weeks=week) + timedelta(minutes=m, seconds=5)
            status = "failed" if m % 10 == 9 else "captured"
            rows.append(
                payment(
                    f"pay_dt{week}_{m}",
                    status=status,
                    method="netbanking",
                    bank="HDFC",
                    created_at=at,
                    state_at=at,
                )
            )
    dip_start = datetime(2026, 11, 28, 19, 0, tzinfo=IST).astimezone(UTC)
    with seeded.engine.begin() as conn:
        write(conn, "payments", *rows)
        conn.execute(
            insert(Downtime).values(
                id="down_dt_hdfc",
                method="netbanking",
                bank="HDFC",
                severity="high",
                status="resolved",
                scheduled=False,
                begin=BEGIN,
                end=END,
                created_at=BEGIN + timedelta(minutes=10),
                state_at=END,
                source="webhook",
                raw={},
            )
        )
        conn.execute(
            insert(Alert).values(
                key="success_drop:method=upi|upi_app=ybl",
                rule="success_drop",
                severity="high",
                category="payments",
                status="resolved",
                title="Success rate down for method upi · UPI app ybl",
                message="test",
                evidence={
                    "slice": {"method": "upi", "upi_app": "ybl"},
                    "window": {
                        "start": dip_start.isoformat(),
                        "end": (dip_start + timedelta(hours=1)).isoformat(),
                    },
                    "current": {"attempts": 80, "successes": 40, "rate": 0.5},
                    "baseline": {"attempts": 400, "successes": 360, "rate": 0.9},
                    "downtime": None,
                },
                first_fired_at=dip_start + timedelta(hours=1, minutes=5),
                last_seen_at=dip_start + timedelta(hours=1, minutes=5),
                resolved_at=dip_start + timedelta(hours=2, minutes=5),
            )
        )


def test_a_manager_reads_what_a_downtime_likely_cost_and_the_undeclared_dip(
    app_for: AppFactory, seeded: Seeded, planted: None
) -> None:
    at = app_for(Role.MANAGER, "success_rates", **PERIOD)
    assert not at.exception, [e.value for e in at.exception]
    start = datetime(2026, 11, 23, tzinfo=IST)
    (impact,) = [
        i
        for i in downtime_impact(
            seeded.engine, start=start, end=start + timedelta(days=8), now=BEGIN + timedelta(days=1)
        )
        if i.id == "down_dt_hdfc"
    ]
    assert impact.likely_lost["INR"] > 0 and impact.drop_before_declared
    sentence = impact_sentence(impact)
    assert (
        sentence.startswith("₹")
        and "likely lost during HDFC netbanking downtime, 29 Nov 14:02–14:47 IST" in sentence
    )
    shown = [m.value for m in at.markdown]
    assert f"**{sentence}**" in shown
    assert any("the drop started before Razorpay declared it** at 14:12 IST" in m for m in shown)
    assert any(
        w.value.startswith(
            "Dip with no declared downtime: method upi · upi\\_app ybl, 28 Nov 19:00–20:00 IST"
        )
        for w in at.warning
    )


def test_money_in_the_sentence_uses_indian_grouping() -> None:
    from analytics.downtime_impact import DowntimeImpact

    impact = DowntimeImpact(
        id="down_x",
        method="netbanking",
        instrument={"bank": "HDFC"},
        severity="high",
        begin=BEGIN,
        end=END,
        declared_at=BEGIN,
        window_end=END,
        attempts=100,
        failures=60,
        failed_value={"INR": 1_23_45_678_90},
        baseline_attempts=400,
        baseline_successes=360,
        baseline_weeks=4,
        expected_failures=10.0,
        excess_failures=50,
        likely_lost={"INR": 1_23_45_678_90, "USD": 123_456},
        drop_before_declared=False,
    )
    assert impact_sentence(impact) == (
        "₹1,23,45,678.90 and \\$1,234.56 likely lost during HDFC netbanking downtime, 29 Nov 14:02–14:47 IST"
    )
    assert date(2026, 11, 29).weekday() == 6  # the planted downtime is on a Sunday, as the baseline assumes
