"""Downtime impact on the real database: the failures of the downtime's instrument against what its
baseline predicts, the value likely lost per currency, whether the drop began before Razorpay declared
it, and the dips no declared downtime covers."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, insert

from analytics import alerts
from analytics.downtime_impact import downtime_hourly, downtime_impact, undeclared_dips
from data.models import Downtime
from tests.analytics.test_alerts import AFTER_DROP_HOUR, DROP_HOUR, RULES, _downtime, _load_drop
from tests.support.factories import payment, write

BEGIN = DROP_HOUR + timedelta(minutes=2)  # 14:02 IST
END = DROP_HOUR + timedelta(minutes=47)  # 14:47 IST
NETBANKING_HDFC = {"method": "netbanking", "bank": "HDFC"}


def _minute(prefix: str, start: Any, minute: int, status: str, **fields: Any) -> dict[str, Any]:
    at = start + timedelta(minutes=minute, seconds=10)
    return payment(f"pay_{prefix}_{minute}", status=status, created_at=at, state_at=at, **fields)


def _load(engine: Engine) -> None:
    rows = []
    # The downtime: one HDFC netbanking attempt a minute, 14:02–14:46; two of every three fail.
    for m in range(45):
        rows.append(_minute("down", BEGIN, m, "failed" if m % 3 else "captured", **NETBANKING_HDFC))
    # One foreign-currency attempt that failed too (its value is reported in its own currency).
    rows.append(_minute("usd", BEGIN, 20, "failed", currency="USD", amount=5_000, **NETBANKING_HDFC))
    # Another bank in the same minutes, and HDFC outside the window: neither counts.
    rows += [_minute("icic", BEGIN, m, "failed", method="netbanking", bank="ICIC") for m in range(10)]
    rows += [_minute("after", END, m, "failed", **NETBANKING_HDFC) for m in range(1, 6)]
    # Baseline: the same minutes of the four Tuesdays before, 40 of 45 paid (minutes 8, 17, 26, 35, 44 fail).
    for week in range(1, 5):
        start = BEGIN - timedelta(weeks=week)
        rows += [
            _minute(f"w{week}", start, m, "failed" if m % 9 == 8 else "captured", **NETBANKING_HDFC)
            for m in range(45)
        ]
    with engine.begin() as conn:
        write(conn, "payments", *rows)
        conn.execute(
            insert(Downtime),
            [
                # Declared eight minutes after it began.
                _downtime(
                    "down_hdfc", bank="HDFC", begin=BEGIN, end=END, created_at=BEGIN + timedelta(minutes=8)
                ),
                # Declared as it began, on a bank with no traffic.
                _downtime("down_kkbk", bank="KKBK", begin=BEGIN, end=END, created_at=BEGIN),
            ],
        )


def test_each_downtime_states_failures_against_the_baseline_and_the_value_likely_lost(engine: Engine) -> None:
    _load(engine)
    impacts = downtime_impact(
        engine, start=DROP_HOUR - timedelta(days=1), end=DROP_HOUR + timedelta(days=1), now=AFTER_DROP_HOUR
    )
    assert [i.id for i in impacts] == ["down_hdfc", "down_kkbk"]
    hdfc, kkbk = impacts
    assert hdfc.instrument == {"bank": "HDFC"} and hdfc.method == "netbanking"
    assert (hdfc.attempts, hdfc.failures) == (46, 31)
    assert hdfc.failed_value == {"INR": 30 * 10_000, "USD": 5_000}
    assert (hdfc.baseline_attempts, hdfc.baseline_successes) == (180, 160)
    assert hdfc.expected_failures is not None
    assert abs(hdfc.expected_failures - 46 * 20 / 180) < 1e-9
    assert hdfc.excess_failures == 31 - 5
    # The failed value beyond the baseline, per currency, never summed across them, floored to the paisa.
    assert hdfc.likely_lost == {"INR": 300_000 * 26 // 31, "USD": 5_000 * 26 // 31}
    # 14:02–14:10: 5 of 8 failed; the baseline had no failure in those minutes.
    assert hdfc.drop_before_declared is True
    assert hdfc.failures_before_declared == 5
    assert set(hdfc.payment_ids) >= {"pay_usd_20", "pay_down_1"} and "pay_icic_1" not in hdfc.payment_ids

    assert (kkbk.attempts, kkbk.failures, kkbk.likely_lost) == (0, 0, {})
    assert kkbk.expected_failures is None and kkbk.drop_before_declared is False


def test_a_downtime_outside_the_period_is_not_listed(engine: Engine) -> None:
    _load(engine)
    later = DROP_HOUR + timedelta(days=2)
    assert downtime_impact(engine, start=later, end=later + timedelta(days=1), now=later) == []


def test_the_hourly_series_around_a_downtime_has_its_baseline(engine: Engine) -> None:
    _load(engine)
    rows = downtime_hourly(
        engine, method="netbanking", instrument={"bank": "HDFC"}, begin=BEGIN, end=END, pad_hours=1
    )
    by_hour = {row["hour"]: row for row in rows}
    assert list(by_hour) == [DROP_HOUR - timedelta(hours=1), DROP_HOUR, DROP_HOUR + timedelta(hours=1)]
    assert by_hour[DROP_HOUR]["attempts"] == 46 + 5
    assert by_hour[DROP_HOUR]["successes"] == 15
    assert by_hour[DROP_HOUR]["baseline_rate"] == 160 / 180
    assert by_hour[DROP_HOUR - timedelta(hours=1)]["success_rate"] is None


def test_a_dip_no_declared_downtime_covers_is_called_out(engine: Engine) -> None:
    _load_drop(engine)
    alerts.evaluate(engine, at=AFTER_DROP_HOUR, rules=RULES, only=["success_drop"])
    dips = undeclared_dips(engine, start=DROP_HOUR - timedelta(days=1), end=DROP_HOUR + timedelta(days=1))
    assert [(d.slice, d.attempts, d.rate, d.baseline_rate) for d in dips] == [
        (NETBANKING_HDFC, 100, 0.6, 0.9)
    ]


def test_a_dip_a_declared_downtime_covers_is_not_an_undeclared_one(engine: Engine) -> None:
    _load_drop(engine)
    with engine.begin() as conn:
        conn.execute(insert(Downtime), [_downtime("down_hdfc", bank="HDFC")])
    fired = alerts.evaluate(engine, at=AFTER_DROP_HOUR, rules=RULES, only=["success_drop"]).fired
    assert len(fired) == 1 and fired[0]["evidence"]["downtime"] is not None
    assert (
        undeclared_dips(engine, start=DROP_HOUR - timedelta(days=1), end=DROP_HOUR + timedelta(days=1)) == []
    )
