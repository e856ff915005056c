"""Normalisers for base currency, disputes, downtimes and the dispute id of adjustment lines."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from sync.normalise import (
    NormaliseError,
    normalise_dispute,
    normalise_downtime,
    normalise_payment,
    normalise_settlement_line,
)
from tests.sync.test_normalise import payment

STATE_AT = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def _payment(**overrides: Any) -> dict[str, Any]:
    return normalise_payment(payment(**overrides), state_at=STATE_AT, source="api")


def test_international_payment_keeps_what_the_customer_paid_and_the_base_amount() -> None:
    # Razorpay's currency-conversion sample: a $1 payment credited in INR, fee and tax in INR.
    row = _payment(
        amount=100, currency="USD", international=True, base_amount=8316, base_currency="INR", fee=207, tax=32
    )
    assert (row["amount"], row["currency"]) == (100, "USD")
    assert (row["base_amount"], row["base_currency"]) == (8316, "INR")
    assert (row["fee"], row["tax"]) == (207, 32)


def test_the_conversion_razorpay_applied_is_kept_as_a_rate() -> None:
    # The currency-conversion page's $1 payment credited as ₹71.29; JPY has no minor unit.
    assert _payment(amount=100, currency="USD", base_amount=7129, base_currency="INR")["conversion_rate"] == (
        Decimal("71.29")
    )
    assert _payment(amount=1000, currency="JPY", base_amount=56640, base_currency="INR")[
        "conversion_rate"
    ] == (Decimal("0.5664"))
    assert _payment(amount=50000, currency="INR")["conversion_rate"] is None
    assert _payment(amount=100, currency="USD", international=True)["conversion_rate"] is None


def test_a_payment_in_the_base_currency_is_its_own_base_amount() -> None:
    row = _payment(amount=50000, currency="INR")
    assert (row["base_amount"], row["base_currency"]) == (50000, "INR")


def test_a_foreign_payment_without_base_fields_has_no_base_amount_rather_than_a_guess() -> None:
    row = _payment(amount=100, currency="USD", international=True)
    assert (row["base_amount"], row["base_currency"]) == (None, None)


def test_base_amount_equal_to_the_amount_without_base_currency_is_the_payments_own_currency() -> None:
    # Razorpay's FPX sample (razorpay/markdown-docs fpx.md): a MYR payment of a Malaysian account carries
    # base_amount = amount and no base_currency; reading it as INR made RM 1.00 a ₹1.00 base amount.
    assert (_payment(amount=100, currency="MYR", base_amount=100)["base_currency"]) == "MYR"
    assert (_payment(amount=50000, currency="INR", base_amount=50000)["base_currency"]) == "INR"


def test_base_amount_without_base_currency_is_in_inr_and_a_bad_code_is_refused() -> None:
    assert _payment(currency="USD", base_amount=8316)["base_currency"] == "INR"
    with pytest.raises(NormaliseError, match="base_currency"):
        _payment(currency="USD", base_amount=8316, base_currency="RUPEES")


def test_dispute_from_the_api_reference_sample() -> None:
    sample = {
        "id": "disp_Esz7KAitoYM7PJ",
        "entity": "dispute",
        "payment_id": "pay_EsyWjHrfzb59eR",
        "amount": 10000,
        "currency": "INR",
        "amount_deducted": 0,
        "reason_code": "pre_arbitration",
        "respond_by": 1590604200,
        "status": "open",
        "phase": "pre_arbitration",
        "created_at": 1590059211,
        "evidence": {"amount": 10000, "summary": None},
    }
    row = normalise_dispute(sample, state_at=STATE_AT, source="api")
    assert row["id"] == "disp_Esz7KAitoYM7PJ"
    assert (row["payment_id"], row["amount"], row["amount_deducted"], row["currency"]) == (
        "pay_EsyWjHrfzb59eR",
        10000,
        0,
        "INR",
    )
    assert (row["status"], row["phase"], row["reason_code"], row["reason_description"]) == (
        "open",
        "pre_arbitration",
        "pre_arbitration",
        None,
    )
    assert row["respond_by"] == datetime(2020, 5, 27, 18, 30, tzinfo=UTC)
    assert row["created_at"] == datetime.fromtimestamp(1590059211, UTC)
    assert row["raw"]["evidence"] == {"amount": 10000, "summary": None}


def test_dispute_without_payment_is_refused() -> None:
    with pytest.raises(NormaliseError, match="payment_id"):
        normalise_dispute(
            {"id": "disp_1", "amount": 1, "status": "open", "created_at": 1}, state_at=STATE_AT, source="api"
        )


@pytest.mark.parametrize(
    ("instrument", "expected"),
    [
        ({"bank": "COSB"}, {"bank": "COSB"}),
        ({"issuer": "HSBC", "card_type": "credit"}, {"issuer": "HSBC", "card_type": "credit"}),
        ({"network": "VISA", "card_type": "credit"}, {"card_network": "VISA", "card_type": "credit"}),
        ({"vpa_handle": "oksbi"}, {"vpa_handle": "oksbi"}),
        ({"psp": "google_pay", "flow": "intent"}, {"psp": "google_pay", "flow": "intent"}),
    ],
)
def test_downtime_instrument_of_each_documented_shape(
    instrument: dict[str, str], expected: dict[str, str]
) -> None:
    sample = {
        "id": "down_F1cxDoHWD4fkQt",
        "entity": "payment.downtime",
        "method": "netbanking",
        "begin": 1591946222,
        "end": None,
        "status": "started",
        "scheduled": False,
        "severity": "high",
        "instrument": instrument,
        "created_at": 1591946223,
        "updated_at": 1591946297,
    }
    row = normalise_downtime(sample, state_at=STATE_AT, source="api")
    columns = ("bank", "issuer", "card_network", "card_type", "vpa_handle", "psp", "flow")
    assert {column: row[column] for column in columns if row[column] is not None} == expected
    assert (row["begin"], row["end"], row["status"], row["severity"], row["scheduled"]) == (
        datetime.fromtimestamp(1591946222, UTC),
        None,
        "started",
        "high",
        False,
    )


def test_downtime_without_created_at_uses_its_begin() -> None:
    row = normalise_downtime(
        {"id": "down_1", "method": "upi", "begin": 1591946222, "status": "started"},
        state_at=STATE_AT,
        source="webhook",
    )
    assert row["created_at"] == datetime.fromtimestamp(1591946222, UTC)


def test_adjustment_line_names_its_dispute() -> None:
    line = {
        "entity_id": "adj_EsyWjHrfzb59eR",
        "type": "adjustment",
        "debit": 10000,
        "credit": 0,
        "amount": 10000,
        "currency": "INR",
        "fee": 0,
        "tax": 0,
        "on_hold": False,
        "settled": True,
        "created_at": 1590059211,
        "settled_at": 1590219000,
        "settlement_id": "setl_1",
        "payment_id": "pay_EsyWjHrfzb59eR",
        "dispute_id": "disp_Esz7KAitoYM7PJ",
    }
    row = normalise_settlement_line(line, source="api")
    assert (row["type"], row["payment_id"], row["dispute_id"], row["debit"]) == (
        "adjustment",
        "pay_EsyWjHrfzb59eR",
        "disp_Esz7KAitoYM7PJ",
        10000,
    )
