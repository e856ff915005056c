"""International payments are reconciled in the base currency, and dispute deductions are settlement
lines: the fee, line and total rules on hand-made rows that fail the way the old rules did."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import Engine

from analytics.rules import RULES, Finding, RuleContext
from tests.support.factories import dispute, payment, refund, settlement, settlement_line, write

NOW = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)
CTX = RuleContext(now=NOW)

# $100.00 paid by a US card, credited ₹8,316.00; Razorpay's fee (3% + GST) is in INR: ₹294.38.
USD_AMOUNT, BASE_AMOUNT, FEE, TAX = 10_000, 831_600, 29_438, 4_490


def detect(engine: Engine, rule: str) -> dict[str, Finding]:
    with engine.connect() as conn:
        return {finding.subject: finding for finding in RULES[rule].detect(conn, CTX)}


def _usd_payment(pid: str, **fields: object) -> dict[str, object]:
    row = {
        "amount": USD_AMOUNT,
        "currency": "USD",
        "base_amount": BASE_AMOUNT,
        "base_currency": "INR",
        "conversion_rate": Decimal("83.16"),
        "international": True,
        "method": "card",
        "fee": FEE,
        "tax": TAX,
        **fields,
    }
    return payment(pid, **row)


def test_a_usd_payment_with_an_inr_fee_is_not_a_fee_anomaly(engine: Engine) -> None:
    with engine.begin() as conn:
        write(
            conn,
            "payments",
            _usd_payment("pay_usd_ok"),
            # The same fee on a base amount a tenth as large really is 35 %: still found.
            _usd_payment("pay_usd_high", base_amount=BASE_AMOUNT // 10, conversion_rate=Decimal("8.316")),
            # No base amount from the API: the fee cannot be judged, so no finding either way.
            _usd_payment("pay_usd_unknown", base_amount=None, base_currency=None),
        )
    found = detect(engine, "fee_rate_anomaly")
    # The old rule read FEE / USD_AMOUNT = 294 %: every one of them was an anomaly.
    assert set(found) == {"pay_usd_high"}
    high = found["pay_usd_high"]
    assert high.currency == "INR"
    assert high.evidence["rate_bp"] == round(FEE * 10_000 / (BASE_AMOUNT // 10), 2)
    assert (high.evidence["amount"], high.evidence["currency"]) == (USD_AMOUNT, "USD")
    assert "USD 100.00, credited INR 831.60 at 8.316 INR per USD" in high.detail
    assert high.evidence["conversion_rate"] == "8.316"


def test_an_inr_recon_line_matches_the_base_amount_of_a_usd_payment(engine: Engine) -> None:
    with engine.begin() as conn:
        write(conn, "payments", _usd_payment("pay_usd_ok"), _usd_payment("pay_usd_short"))
        write(
            conn,
            "settlement_lines",
            settlement_line(
                "pay_usd_ok",
                amount=BASE_AMOUNT,
                fee=FEE,
                tax=TAX,
                credit=BASE_AMOUNT - FEE,
                settlement_id="setl_1",
            ),
            settlement_line(
                "pay_usd_short",
                amount=BASE_AMOUNT - 500,
                fee=FEE,
                tax=TAX,
                credit=BASE_AMOUNT - 500 - FEE,
                settlement_id="setl_1",
            ),
        )
    found = detect(engine, "settlement_line_amount_mismatch")
    # The old rule compared INR 8,316.00 with USD 100.00 and flagged both.
    assert set(found) == {"pay_usd_short"}
    short = found["pay_usd_short"]
    assert (short.expected_amount, short.actual_amount, short.currency) == (
        BASE_AMOUNT,
        BASE_AMOUNT - 500,
        "INR",
    )
    assert short.evidence["paid"] == {"amount": USD_AMOUNT, "currency": "USD"}


def test_a_line_in_a_currency_the_payment_states_nothing_in_is_flagged(engine: Engine) -> None:
    with engine.begin() as conn:
        write(conn, "payments", _usd_payment("pay_usd_nobase", base_amount=None, base_currency=None))
        write(
            conn, "settlement_lines", settlement_line("pay_usd_nobase", amount=BASE_AMOUNT, fee=FEE, tax=TAX)
        )
    found = detect(engine, "settlement_line_amount_mismatch")
    assert set(found) == {"pay_usd_nobase"}
    assert "states no amount in INR" in found["pay_usd_nobase"].detail


def test_a_refund_line_in_another_currency_than_its_refund_is_not_compared(engine: Engine) -> None:
    with engine.begin() as conn:
        write(conn, "payments", _usd_payment("pay_usd"))
        write(conn, "refunds", refund("rfnd_usd", "pay_usd", amount=5_000, currency="USD"))
        write(
            conn,
            "settlement_lines",
            settlement_line(
                "rfnd_usd", type="refund", payment_id="pay_usd", amount=415_000, credit=0, debit=415_000
            ),
        )
    assert detect(engine, "settlement_line_amount_mismatch") == {}


def test_dispute_adjustment_lines_are_checked_against_the_deduction(engine: Engine) -> None:
    with engine.begin() as conn:
        write(conn, "payments", payment("pay_a"), payment("pay_b"))
        write(
            conn,
            "disputes",
            dispute("disp_a", "pay_a", status="lost", amount_deducted=10_000),
            dispute("disp_b", "pay_b", status="lost", amount_deducted=10_000),
        )
        write(
            conn,
            "settlement_lines",
            settlement_line(
                "adj_a",
                type="adjustment",
                payment_id="pay_a",
                dispute_id="disp_a",
                amount=10_000,
                credit=0,
                debit=10_000,
            ),
            settlement_line(
                "adj_b",
                type="adjustment",
                payment_id="pay_b",
                dispute_id="disp_b",
                amount=12_000,
                credit=0,
                debit=12_000,
            ),
        )
    found = detect(engine, "settlement_line_amount_mismatch")
    assert set(found) == {"adj_b"}
    finding = found["adj_b"]
    assert (finding.expected_amount, finding.actual_amount, finding.payment_id) == (10_000, 12_000, "pay_b")
    assert finding.evidence["dispute_id"] == "disp_b"
    assert "dispute disp_b" in finding.detail


def test_settlement_total_accounts_for_dispute_deductions(engine: Engine) -> None:
    with engine.begin() as conn:
        write(
            conn,
            "settlements",
            # 20,000 credited − 10,000 lost dispute = 10,000 paid out: adds up.
            settlement("setl_ok", amount=10_000),
            # Paid as if the deduction had not happened.
            settlement("setl_gross", amount=20_000),
        )
        for setl in ("setl_ok", "setl_gross"):
            write(
                conn,
                "settlement_lines",
                settlement_line(f"pay_1_{setl}", credit=10_000, settlement_id=setl),
                settlement_line(f"pay_2_{setl}", credit=10_000, settlement_id=setl),
                settlement_line(
                    f"adj_{setl}",
                    type="adjustment",
                    amount=10_000,
                    credit=0,
                    debit=10_000,
                    settlement_id=setl,
                ),
            )
    found = detect(engine, "settlement_total_mismatch")
    assert set(found) == {"setl_gross"}
    evidence = found["setl_gross"].evidence
    assert (evidence["credits"], evidence["debits"], evidence["adjustments"], evidence["difference"]) == (
        20_000,
        10_000,
        10_000,
        10_000,
    )
    assert "of which adjustments INR 100.00" in found["setl_gross"].detail
