"""Each reconciliation rule on hand-made rows: it finds its case, with evidence, and not the near-miss."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import Engine

from analytics import mismatches
from analytics.reconcile import reconcile
from analytics.rules import RULES, RuleContext, add_business_days, business_day_cutoff, format_amount
from data.settings import Settings, get_settings
from tests.support.factories import (
    order,
    payment,
    refund,
    settlement,
    settlement_line,
    webhook_event,
    write,
)

# Friday 2026-11-20, 11:30 IST. T+3 business days: IST days up to Monday 16th are due.
NOW = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)
OLD = datetime(2026, 11, 10, 6, 0, tzinfo=UTC)
CTX = RuleContext(now=NOW)


def detect(engine: Engine, rule: str) -> dict[str, object]:
    with engine.connect() as conn:
        return {finding.subject: finding for finding in RULES[rule].detect(conn, CTX)}


def test_business_days_skip_weekends() -> None:
    assert add_business_days(date(2026, 11, 13), 3) == date(2026, 11, 18)  # Fri → Wed
    assert business_day_cutoff(NOW, 3) == datetime(
        2026, 11, 16, 18, 30, tzinfo=UTC
    )  # IST midnight of Tue 17th


def test_format_amount_uses_minor_units() -> None:
    assert format_amount(123456, "INR") == "INR 1234.56"
    assert format_amount(-5, "INR") == "INR -0.05"
    assert format_amount(500, "JPY") == "JPY 500"


def test_captured_not_settled(engine: Engine) -> None:
    due = datetime(2026, 11, 16, 18, 0, tzinfo=UTC)  # IST Monday 23:30: due by Thursday, now Friday
    not_yet = datetime(2026, 11, 16, 19, 0, tzinfo=UTC)  # IST Tuesday 00:30: due by Friday
    with engine.begin() as conn:
        write(
            conn,
            "payments",
            payment("pay_due", created_at=due, amount=50_000),
            payment("pay_young", created_at=not_yet),
            payment("pay_settled", created_at=OLD),
            payment("pay_failed", created_at=OLD, status="failed"),
            payment("pay_refunded", created_at=OLD, status="refunded"),
        )
        write(conn, "settlement_lines", settlement_line("pay_settled"))
    found = detect(engine, "captured_not_settled")
    assert set(found) == {"pay_due", "pay_refunded"}
    finding = found["pay_due"]
    assert finding.expected_amount == 50_000 and finding.currency == "INR"  # type: ignore[attr-defined]
    assert finding.evidence["captured_at"] == due.isoformat()  # type: ignore[attr-defined]
    assert "INR 500.00" in finding.detail  # type: ignore[attr-defined]


def test_settlement_line_amount_mismatch(engine: Engine) -> None:
    with engine.begin() as conn:
        write(
            conn,
            "payments",
            payment("pay_ok", fee=236, tax=36),
            payment("pay_short", fee=236, tax=36, amount=10_000),
            payment("pay_fee", fee=236, tax=36),
        )
        write(
            conn,
            "refunds",
            refund("rfnd_ok", "pay_ok", amount=4_000),
            refund("rfnd_bad", "pay_ok", amount=4_000),
        )
        write(
            conn,
            "settlement_lines",
            settlement_line("pay_ok", fee=236, tax=36, settlement_id="setl_1"),
            settlement_line("pay_short", amount=9_900, fee=236, tax=36, settlement_id="setl_1"),
            settlement_line("pay_fee", fee=300, tax=36, settlement_id="setl_1"),
            settlement_line(
                "rfnd_ok", type="refund", payment_id="pay_ok", amount=4_000, credit=0, debit=4_000
            ),
            settlement_line(
                "rfnd_bad", type="refund", payment_id="pay_ok", amount=3_000, credit=0, debit=3_000
            ),
        )
    found = detect(engine, "settlement_line_amount_mismatch")
    assert set(found) == {"pay_short", "pay_fee", "rfnd_bad"}
    short = found["pay_short"]
    assert (short.expected_amount, short.actual_amount, short.settlement_id) == (10_000, 9_900, "setl_1")  # type: ignore[attr-defined]
    assert found["pay_fee"].evidence["line"]["fee"] == 300  # type: ignore[attr-defined]
    assert found["rfnd_bad"].refund_id == "rfnd_bad"  # type: ignore[attr-defined]


def test_settlement_total_mismatch(engine: Engine) -> None:
    with engine.begin() as conn:
        write(
            conn,
            "settlements",
            settlement("setl_ok", amount=15_000),
            settlement("setl_short", amount=14_000),
            settlement("setl_failed", amount=1, status="failed"),
        )
        write(
            conn,
            "settlement_lines",
            settlement_line("pay_a", settlement_id="setl_ok", credit=10_000),
            settlement_line("pay_b", settlement_id="setl_ok", credit=9_000),
            settlement_line("rfnd_c", type="refund", settlement_id="setl_ok", credit=0, debit=4_000),
            settlement_line("pay_d", settlement_id="setl_short", credit=14_500),
        )
    found = detect(engine, "settlement_total_mismatch")
    assert set(found) == {"setl_short"}
    finding = found["setl_short"]
    assert (finding.expected_amount, finding.actual_amount) == (14_500, 14_000)  # type: ignore[attr-defined]
    assert finding.evidence["difference"] == -500  # type: ignore[attr-defined]


def test_order_rules(engine: Engine) -> None:
    with engine.begin() as conn:
        write(
            conn,
            "orders",
            order("order_ok", status="paid", amount_paid=10_000),
            order("order_nocap", status="paid", amount_paid=10_000),
            order("order_twice", status="paid", amount_paid=10_000),
            order("order_open", status="attempted"),
        )
        write(
            conn,
            "payments",
            payment("pay_ok", order_id="order_ok"),
            payment("pay_ok_failed", order_id="order_ok", status="failed"),
            payment("pay_nocap", order_id="order_nocap", status="failed"),
            payment("pay_t1", order_id="order_twice", created_at=OLD),
            payment("pay_t2", order_id="order_twice", status="refunded", created_at=OLD + timedelta(hours=1)),
            payment("pay_open", order_id="order_open", status="failed"),
        )
    assert set(detect(engine, "order_paid_without_capture")) == {"order_nocap"}
    twice = detect(engine, "order_multiple_captures")
    assert set(twice) == {"order_twice"}
    evidence = twice["order_twice"].evidence  # type: ignore[attr-defined]
    assert [item["payment_id"] for item in evidence["payments"]] == ["pay_t1", "pay_t2"]
    assert twice["order_twice"].actual_amount == 20_000  # type: ignore[attr-defined]


def test_authorized_not_captured(engine: Engine) -> None:
    with engine.begin() as conn:
        write(
            conn,
            "payments",
            payment("pay_stale", status="authorized", created_at=NOW - timedelta(days=3, minutes=1)),
            payment("pay_fresh", status="authorized", created_at=NOW - timedelta(days=2, hours=23)),
            payment("pay_captured", created_at=NOW - timedelta(days=5)),
        )
    found = detect(engine, "authorized_not_captured")
    assert set(found) == {"pay_stale"}
    assert found["pay_stale"].evidence["age_hours"] == 72  # type: ignore[attr-defined]


def test_refund_not_debited(engine: Engine) -> None:
    with engine.begin() as conn:
        write(conn, "payments", payment("pay_1", created_at=OLD))
        write(
            conn,
            "refunds",
            refund("rfnd_missing", "pay_1", created_at=OLD, amount=2_500),
            refund("rfnd_debited", "pay_1", created_at=OLD),
            refund("rfnd_pending", "pay_1", created_at=OLD, status="pending"),
            refund("rfnd_young", "pay_1", created_at=NOW - timedelta(days=1)),
        )
        write(
            conn, "settlement_lines", settlement_line("rfnd_debited", type="refund", credit=0, debit=10_000)
        )
    found = detect(engine, "refund_not_debited")
    assert set(found) == {"rfnd_missing"}
    assert (found["rfnd_missing"].payment_id, found["rfnd_missing"].expected_amount) == ("pay_1", 2_500)  # type: ignore[attr-defined]


def test_fee_rate_anomaly(engine: Engine) -> None:
    with engine.begin() as conn:
        write(
            conn,
            "payments",
            payment("pay_normal", method="card", amount=100_000, fee=2_360, tax=360),
            payment("pay_high", method="card", amount=100_000, fee=9_440, tax=1_440),
            payment("pay_upi_zero", method="upi", amount=100_000, fee=0, tax=0),
            payment("pay_nb_zero", method="netbanking", amount=100_000, fee=0, tax=0),
            payment("pay_unpriced", method="card", amount=100_000, fee=None, status="authorized"),
        )
    found = detect(engine, "fee_rate_anomaly")
    assert set(found) == {"pay_high", "pay_nb_zero"}
    assert found["pay_high"].evidence["rate_bp"] == 944.0  # type: ignore[attr-defined]
    assert found["pay_high"].evidence["range_bp"] == [100, 450]  # type: ignore[attr-defined]


def test_webhook_missing_within_coverage(engine: Engine) -> None:
    start = NOW - timedelta(days=2)
    with engine.begin() as conn:
        write(
            conn,
            "payments",
            payment("pay_before", created_at=start - timedelta(days=1)),  # before webhooks flowed
            payment("pay_first", created_at=start),
            payment("pay_heard", created_at=start + timedelta(hours=1)),
            payment("pay_silent", created_at=start + timedelta(hours=2), amount=7_700),
            payment("pay_failed_silent", created_at=start + timedelta(hours=3), status="failed"),
            payment("pay_recent", created_at=NOW - timedelta(minutes=10)),  # inside the grace period
        )
        write(conn, "refunds", refund("rfnd_silent", "pay_heard", created_at=start + timedelta(hours=4)))
        write(
            conn,
            "webhook_events",
            webhook_event(
                "evt_1",
                "payment.captured",
                payment_id="pay_first",
                entity_status="captured",
                received_at=NOW - timedelta(minutes=1),
            ),
            webhook_event(
                "evt_2",
                "payment.captured",
                payment_id="pay_heard",
                entity_status="captured",
                received_at=NOW - timedelta(minutes=1),
            ),
        )
    found = detect(engine, "webhook_missing")
    assert set(found) == {
        "payment.captured:pay_silent",
        "payment.failed:pay_failed_silent",
        "refund.processed:rfnd_silent",
    }
    assert found["payment.captured:pay_silent"].expected_amount == 7_700  # type: ignore[attr-defined]


def test_webhook_status_conflict(engine: Engine) -> None:
    at = NOW - timedelta(days=1)
    with engine.begin() as conn:
        write(
            conn,
            "payments",
            payment("pay_conflict", created_at=at),  # captured per API, a failure event after the capture
            payment("pay_late_auth", created_at=at),  # failed, then authorised late: no conflict
            payment("pay_behind", created_at=at, status="failed"),  # webhook says captured, API failed
        )
        write(
            conn,
            "webhook_events",
            webhook_event(
                "evt_c1",
                "payment.captured",
                payment_id="pay_conflict",
                entity_status="captured",
                created_at=at + timedelta(minutes=1),
            ),
            webhook_event(
                "evt_c2",
                "payment.failed",
                payment_id="pay_conflict",
                entity_status="failed",
                created_at=at + timedelta(minutes=30),
            ),
            webhook_event(
                "evt_l1",
                "payment.failed",
                payment_id="pay_late_auth",
                entity_status="failed",
                created_at=at + timedelta(minutes=1),
            ),
            webhook_event(
                "evt_l2",
                "payment.authorized",
                payment_id="pay_late_auth",
                entity_status="authorized",
                created_at=at + timedelta(minutes=40),
            ),
            webhook_event(
                "evt_b1",
                "payment.captured",
                payment_id="pay_behind",
                entity_status="captured",
                created_at=at + timedelta(minutes=2),
            ),
        )
    # A replay packs history into seconds: envelope clocks jitter, the delivery order tells.
    sent = at + timedelta(hours=1)
    with engine.begin() as conn:
        write(
            conn,
            "payments",
            payment("pay_replay_conflict", created_at=at),
            payment("pay_replay_late", created_at=at),
        )
        write(
            conn,
            "webhook_events",
            webhook_event(
                "evt_r1",
                "payment.captured",
                payment_id="pay_replay_conflict",
                entity_status="captured",
                created_at=sent + timedelta(seconds=3),
                received_at=sent,
            ),
            webhook_event(
                "evt_r2",
                "payment.failed",
                payment_id="pay_replay_conflict",
                entity_status="failed",
                created_at=sent + timedelta(seconds=1),
                received_at=sent + timedelta(milliseconds=90),
            ),
            webhook_event(
                "evt_q1",
                "payment.failed",
                payment_id="pay_replay_late",
                entity_status="failed",
                created_at=sent + timedelta(seconds=3),
                received_at=sent,
            ),
            webhook_event(
                "evt_q2",
                "payment.authorized",
                payment_id="pay_replay_late",
                entity_status="authorized",
                created_at=sent + timedelta(seconds=1),
                received_at=sent + timedelta(milliseconds=90),
            ),
        )
    found = detect(engine, "webhook_status_conflict")
    assert set(found) == {"pay_conflict:evt_c2", "pay_behind:evt_b1", "pay_replay_conflict:evt_r2"}
    conflict = found["pay_conflict:evt_c2"].evidence  # type: ignore[attr-defined]
    assert (conflict["webhook_status"], conflict["api_status"]) == ("failed", "captured")


def test_every_rule_is_explained() -> None:
    assert set(RULES) == {
        "captured_not_settled",
        "settlement_line_amount_mismatch",
        "settlement_total_mismatch",
        "order_paid_without_capture",
        "order_multiple_captures",
        "authorized_not_captured",
        "refund_not_debited",
        "webhook_missing",
        "webhook_status_conflict",
        "fee_rate_anomaly",
        "settlement_not_credited",
        "bank_credit_amount_differs",
        "bank_credit_without_settlement",
        "settlement_credited_twice",
        "bank_credit_ambiguous",
    }
    for rule in RULES.values():
        assert rule.severity in ("critical", "high", "medium", "low")
        assert rule.explanation and rule.usual_cause and rule.title


def test_explanations_name_the_thresholds_the_rules_ran_with() -> None:
    ctx = RuleContext(now=NOW, settlement_days=5, authorized_days=7, webhook_grace_minutes=45)
    assert "after T+5 business days" in RULES["captured_not_settled"].explain(ctx)
    assert "after T+5 business days" in RULES["refund_not_debited"].explain(ctx)
    assert "for more than 7 days" in RULES["authorized_not_captured"].explain(ctx)
    assert "within 45 minutes" in RULES["webhook_missing"].explain(ctx)
    # The catalogue's text is the configured one: the settings' defaults here.
    assert "for more than 3 days" in RULES["authorized_not_captured"].explanation
    assert "{" not in "".join(rule.explanation for rule in RULES.values())


def test_thresholds_come_from_the_settings() -> None:
    settings = Settings(authorized_days=7, webhook_grace_minutes=45, fee_rate_ranges={"*": (0, 100)})
    ctx = RuleContext.configured(NOW, settings=settings, settlement_days=1)
    assert (ctx.settlement_days, ctx.authorized_days, ctx.webhook_grace_minutes) == (1, 7, 45)
    assert dict(ctx.fee_rate_ranges) == {"*": (0, 100)}
    defaults = RuleContext(now=NOW)
    assert (defaults.settlement_days, defaults.authorized_days, defaults.webhook_grace_minutes) == (3, 3, 30)


def test_reconcile_uses_the_configured_authorisation_age(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    with engine.begin() as conn:
        write(conn, "payments", payment("pay_stale", status="authorized", created_at=NOW - timedelta(days=4)))
    monkeypatch.setenv("AUTHORIZED_DAYS", "5")
    get_settings.cache_clear()
    try:
        assert reconcile(engine, now=NOW, rules=["authorized_not_captured"]).new == 0
        monkeypatch.setenv("AUTHORIZED_DAYS", "2")
        get_settings.cache_clear()
        assert reconcile(engine, now=NOW, rules=["authorized_not_captured"]).new == 1
    finally:
        get_settings.cache_clear()
    (explanation,) = mismatches.list_mismatches(engine)["explanation"]
    assert "still not captured after 2 days" in explanation
    assert "for more than 2 days" in explanation
