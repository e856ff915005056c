"""Risk signals: card testing, velocity and the international share, each with its evidence and payments."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, insert

from analytics.risk import UNCONFIRMED_LISTED, risk_signals
from data.models import CheckoutConfirmation
from data.rollups import rebuild_all
from tests.support.factories import dispute, payment, write

AT = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def _card(pid: str, minutes_before: float, status: str, last4: str, **fields: Any) -> dict[str, Any]:
    at = AT - timedelta(minutes=minutes_before)
    row = {"method": "card", "card_network": "Visa", "card_last4": last4, "amount": 100, "created_at": at}
    return payment(pid, status=status, state_at=at, **{**row, **fields})


def test_a_burst_of_small_failing_card_attempts_is_card_testing(engine: Engine) -> None:
    burst = [
        _card(
            f"pay_t{i}",
            60 - i * 1.5,
            "captured" if i == 0 else "failed",
            f"{1000 + i}",
            email="t@x.io",
            contact="+919800000001",
        )
        for i in range(6)
    ]
    spread = [_card(f"pay_s{i}", 600 - i * 60, "failed", "4242", email="slow@x.io") for i in range(6)]
    succeeding = [_card(f"pay_g{i}", 30 - i, "captured", "5555", email="good@x.io") for i in range(6)]
    with engine.begin() as conn:
        write(conn, "payments", *burst, *spread, *succeeding)
    signals = [s for s in risk_signals(engine, at=AT) if s.kind == "card_testing"]
    # One burst behind one email, one phone and six cards: one signal.
    assert [(s.subject, sorted(s.payment_ids)) for s in signals] == [
        ("email:t@x.io", sorted(row["id"] for row in burst))
    ]
    evidence = signals[0].evidence
    assert (evidence["attempts"], evidence["failures"], evidence["distinct_cards"]) == (6, 5, 6)
    assert "6 card attempts of at most INR 100.00" in signals[0].explanation


def test_velocity_many_payments_or_many_cards(engine: Engine) -> None:
    busy = [
        payment(f"pay_v{i}", contact="+919811111111", created_at=AT - timedelta(hours=i + 1))
        for i in range(10)
    ]
    cards = [
        _card(f"pay_c{i}", 120 * (i + 1), "captured", f"{2000 + i}", amount=500_000, email="many@x.io")
        for i in range(3)
    ]
    normal = [
        payment(f"pay_n{i}", contact="+919822222222", created_at=AT - timedelta(hours=i + 1))
        for i in range(9)
    ]
    with engine.begin() as conn:
        write(conn, "payments", *busy, *cards, *normal)
    found = {s.subject: s for s in risk_signals(engine, at=AT) if s.kind == "velocity"}
    assert set(found) == {"contact:+919811111111", "email:many@x.io"}
    assert found["contact:+919811111111"].evidence["successful"] == 10
    assert sorted(found["contact:+919811111111"].payment_ids) == sorted(row["id"] for row in busy)
    assert found["email:many@x.io"].evidence["distinct_cards"] == 3
    assert "3 different cards" in found["email:many@x.io"].title


def _hour(prefix: str, start: datetime, domestic: int, international: int) -> list[dict[str, Any]]:
    rows = [payment(f"{prefix}d{i}", created_at=start + timedelta(minutes=i % 60)) for i in range(domestic)]
    rows += [
        payment(
            f"{prefix}i{i}", country="US", international=True, created_at=start + timedelta(minutes=i % 60)
        )
        for i in range(international)
    ]
    return rows


def test_international_share_rising(engine: Engine) -> None:
    rows = []
    for day in range(1, 8):  # the baseline week: 5% international
        rows += _hour(f"pay_b{day}_", AT - timedelta(days=day, hours=3), 95, 5)
    rows += _hour("pay_now_", AT - timedelta(hours=3), 70, 30)  # the last day: 30%
    with engine.begin() as conn:
        write(conn, "payments", *rows)
        rebuild_all(conn)
    signals = [s for s in risk_signals(engine, at=AT) if s.kind == "international_share"]
    assert len(signals) == 1
    evidence = signals[0].evidence
    assert (evidence["international"], evidence["attempts"]) == (30, 100)
    assert (evidence["baseline_international"], evidence["baseline_attempts"]) == (35, 700)


def test_steady_international_share_is_quiet(engine: Engine) -> None:
    rows = []
    for day in range(0, 8):
        rows += _hour(f"pay_b{day}_", AT - timedelta(days=day, hours=3), 90, 10)
    with engine.begin() as conn:
        write(conn, "payments", *rows)
        rebuild_all(conn)
    assert [s for s in risk_signals(engine, at=AT) if s.kind == "international_share"] == []


def _confirmation(order_id: str, payment_id: str, verdict: str, minutes_before: int = 60) -> dict[str, Any]:
    return {
        "received_at": AT - timedelta(minutes=minutes_before),
        "order_id": order_id,
        "payment_id": payment_id,
        "verdict": verdict,
        "key_used": "current" if verdict == "verified" else None,
        "signature_sha256": "0" * 64,
        "source_address": "10.0.0.1",
        "detail": None,
    }


def test_confirmations_cross_checked_against_the_api(engine: Engine) -> None:
    hour_ago = AT - timedelta(hours=2)
    with engine.begin() as conn:
        write(
            conn,
            "payments",
            payment("pay_ok", order_id="order_ok", created_at=hour_ago),
            payment("pay_failed", order_id="order_f", status="failed", created_at=hour_ago),
            payment("pay_other", order_id="order_real", created_at=hour_ago),
            payment("pay_never", order_id="order_n", created_at=hour_ago),
            payment("pay_no_order", created_at=hour_ago),
        )
        conn.execute(
            insert(CheckoutConfirmation),
            [
                _confirmation("order_ok", "pay_ok", "verified"),
                _confirmation("order_f", "pay_failed", "verified"),
                _confirmation("order_elsewhere", "pay_other", "verified"),
                _confirmation("order_x", "pay_forged", "bad_signature"),
                _confirmation("order_y", "pay_forged2", "bad_signature"),
            ],
        )
    found = {s.kind: s for s in risk_signals(engine, at=AT)}
    assert found["forged_confirmation"].evidence["count"] == 2
    assert found["forged_confirmation"].payment_ids == ["pay_forged", "pay_forged2"]
    problems = {
        item["payment_id"]: item["problem"] for item in found["confirmation_mismatch"].evidence["items"]
    }
    assert problems == {"pay_failed": "payment is failed", "pay_other": "another order"}
    # Captured with an order, never confirmed (pay_other's confirmation named another order but verified).
    assert found["unconfirmed_capture"].payment_ids == ["pay_never"]


def test_unconfirmed_captures_are_counted_not_capped_at_the_listed_ids(engine: Engine) -> None:
    hour_ago = AT - timedelta(hours=2)
    many = UNCONFIRMED_LISTED + 7
    with engine.begin() as conn:
        write(
            conn,
            "payments",
            payment("pay_ok", order_id="order_ok", created_at=hour_ago),
            *(payment(f"pay_u{i:04d}", order_id=f"order_u{i:04d}", created_at=hour_ago) for i in range(many)),
        )
        # The merchant forwards confirmations (one arrived), so the missing ones mean something.
        conn.execute(insert(CheckoutConfirmation), [_confirmation("order_ok", "pay_ok", "verified")])
    found = {s.kind: s for s in risk_signals(engine, at=AT)}["unconfirmed_capture"]
    assert found.title.startswith(f"{many:,} captured payments")
    assert found.evidence == {"count": many, "listed": UNCONFIRMED_LISTED}
    assert len(found.payment_ids) == UNCONFIRMED_LISTED
    assert f"The first {UNCONFIRMED_LISTED:,}" in found.explanation


def test_no_confirmations_no_cross_checks(engine: Engine) -> None:
    with engine.begin() as conn:
        write(conn, "payments", payment("pay_never", order_id="order_n", created_at=AT - timedelta(hours=2)))
    assert [s for s in risk_signals(engine, at=AT) if "confirm" in s.kind] == []


def test_disputes_needing_a_response_near_their_respond_by_date_are_a_signal_per_currency(
    engine: Engine,
) -> None:
    payments = [payment(f"pay_d{i}", created_at=AT - timedelta(days=10)) for i in range(6)]
    disputes = [
        dispute("disp_past", "pay_d0", respond_by=AT - timedelta(hours=2), amount=50_000),
        dispute(
            "disp_soon",
            "pay_d1",
            respond_by=AT + timedelta(hours=47),
            amount=25_000,
            status="action_required",
        ),
        dispute("disp_usd", "pay_d2", respond_by=AT + timedelta(hours=5), amount=1_000, currency="USD"),
        # Not yet near, under review (the bank has the evidence), already decided, no deadline: none of these.
        dispute("disp_later", "pay_d3", respond_by=AT + timedelta(hours=49)),
        dispute("disp_review", "pay_d4", respond_by=AT + timedelta(hours=1), status="under_review"),
        dispute("disp_lost", "pay_d5", respond_by=AT + timedelta(hours=1), status="lost"),
    ]
    with engine.begin() as conn:
        write(conn, "payments", *payments)
        write(conn, "disputes", *disputes)
    signals = {s.subject: s for s in risk_signals(engine, at=AT) if s.kind == "dispute_respond_by"}
    assert set(signals) == {"disputes:INR", "disputes:USD"}
    inr = signals["disputes:INR"]
    assert [d["id"] for d in inr.evidence["disputes"]] == ["disp_past", "disp_soon"]
    assert inr.evidence["at_stake"] == 75_000 and inr.evidence["overdue"] == 1
    assert [d["hours_left"] for d in inr.evidence["disputes"]] == [-2, 47]
    assert inr.payment_ids == ["pay_d0", "pay_d1"]
    assert "INR 750.00 at stake" in inr.explanation and "1 already past" in inr.explanation
    assert signals["disputes:USD"].evidence["at_stake"] == 1_000
