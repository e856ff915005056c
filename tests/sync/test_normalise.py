"""Normaliser quirks, each with a test: notes as [], error_code as "", missing card, country paths."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sync.normalise import (
    _INDIAN_MOBILE_SHAPE,
    NormaliseError,
    _phone_country,
    normalise_order,
    normalise_payment,
    normalise_refund,
    normalise_settlement,
    normalise_settlement_line,
)

STATE_AT = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def payment(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "pay_A1",
        "entity": "payment",
        "amount": 50000,
        "currency": "INR",
        "status": "captured",
        "order_id": "order_A1",
        "method": "card",
        "international": False,
        "amount_refunded": 0,
        "refund_status": None,
        "captured": True,
        "bank": None,
        "wallet": None,
        "vpa": None,
        "email": "buyer@example.com",
        "contact": "+919876543210",
        "notes": {"country": "IN"},
        "fee": 1180,
        "tax": 180,
        "error_code": None,
        "error_description": None,
        "error_source": None,
        "error_step": None,
        "error_reason": None,
        "created_at": 1761998400,
        "card": {
            "id": "card_X",
            "name": "A Buyer",
            "network": "Visa",
            "type": "credit",
            "issuer": "HDFC",
            "international": False,
            "last4": "1111",
            "emi": False,
        },
    }
    base.update(overrides)
    return base


def norm(api: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    return normalise_payment(api, state_at=STATE_AT, source="api", **kwargs)


def test_payment_fields_are_typed_and_money_is_integer_paise() -> None:
    row = norm(payment())
    assert row["id"] == "pay_A1"
    assert row["amount"] == 50000 and row["fee"] == 1180 and row["tax"] == 180
    assert row["created_at"] == datetime(2025, 11, 1, 12, 0, tzinfo=UTC)
    assert row["state_at"] == STATE_AT and row["source"] == "api"
    assert (row["card_network"], row["card_type"], row["card_issuer"], row["card_last4"]) == (
        "Visa",
        "credit",
        "HDFC",
        "1111",
    )
    assert row["card_international"] is False
    assert row["captured"] is True and row["international"] is False


def test_card_details_beyond_the_five_shown_are_not_kept_in_raw() -> None:
    row = norm(payment())
    assert row["raw"]["card"] == {
        "network": "Visa",
        "type": "credit",
        "issuer": "HDFC",
        "international": False,
        "last4": "1111",
    }


def test_notes_as_empty_list_means_no_notes() -> None:
    row = norm(payment(notes=[]))
    assert row["country_source"] == "phone"
    assert row["raw"]["notes"] == []


def test_error_code_empty_string_is_none() -> None:
    row = norm(payment(status="failed", error_code="", error_description="", error_reason=""))
    assert row["error_code"] is None and row["error_description"] is None and row["error_reason"] is None
    failed = norm(payment(status="failed", error_code="BAD_REQUEST_ERROR", error_reason="payment_failed"))
    assert failed["error_code"] == "BAD_REQUEST_ERROR" and failed["error_reason"] == "payment_failed"


def test_missing_card_gives_empty_card_columns() -> None:
    api = payment(method="netbanking", bank="HDFC")
    del api["card"]
    row = norm(api)
    assert row["card_network"] is None and row["card_last4"] is None and row["card_international"] is None
    assert row["bank"] == "HDFC"
    assert norm(payment(card=None))["card_type"] is None


def test_fee_and_tax_are_none_until_captured() -> None:
    row = norm(payment(status="authorized", captured=False, fee=None, tax=None))
    assert row["fee"] is None and row["tax"] is None and row["captured"] is False


def test_upi_keeps_only_the_handle_and_scrubs_the_vpa_from_raw() -> None:
    api = payment(
        method="upi",
        vpa="someone.name@OKHDFCBank",
        card=None,
        upi={"flow": "collect", "vpa": "someone.name@OKHDFCBank", "payer_account_type": "bank_account"},
    )
    row = norm(api)
    assert row["upi_app"] == "okhdfcbank"
    assert row["upi_flow"] == "collect"
    assert row["raw"]["vpa"] == "***@okhdfcbank"
    assert row["raw"]["upi"]["vpa"] == "***@okhdfcbank"
    assert "someone.name" not in str(row["raw"])
    # the input dict itself is not changed: normalisers are pure
    assert api["vpa"] == "someone.name@OKHDFCBank"


def test_upi_handle_from_the_upi_object_when_top_level_vpa_missing() -> None:
    row = norm(payment(method="upi", vpa=None, card=None, upi={"flow": "intent", "vpa": "x@ybl"}))
    assert row["upi_app"] == "ybl"


@pytest.mark.parametrize(
    ("overrides", "kwargs", "expected"),
    [
        ({"notes": {"country": "SG"}}, {}, ("SG", "notes")),
        ({"notes": {"country": "Singapore"}}, {}, ("SG", "notes")),
        ({"notes": {"buyer_country": "ae"}}, {"country_notes_key": "buyer_country"}, ("AE", "notes")),
        ({"notes": {"country": "Atlantis"}, "contact": "+6591234567"}, {}, ("SG", "phone")),
        ({"notes": [], "contact": "+14155550123"}, {}, ("US", "phone")),
        ({"notes": [], "contact": "+12045550123"}, {}, ("CA", "phone")),
        ({"notes": [], "contact": "+442079460123"}, {}, ("GB", "phone")),
        (
            {"notes": [], "contact": None, "international": True, "currency": "USD"},
            {},
            ("US", "international_currency"),
        ),
        (
            {"notes": [], "contact": "9876543210", "method": "upi", "card": None},
            {},
            ("IN", "domestic_method"),
        ),
        ({"notes": [], "contact": "", "method": "netbanking", "card": None}, {}, ("IN", "domestic_method")),
        ({"notes": [], "contact": None, "international": False}, {}, ("IN", "international_currency")),
        (
            {"notes": [], "contact": None, "international": True, "currency": "EUR"},
            {},
            (None, "unknown"),
        ),
        ({"notes": {"country": "IN"}}, {"country_notes_key": ""}, ("IN", "phone")),
    ],
)
def test_country_derivation_paths(
    overrides: dict[str, Any], kwargs: dict[str, Any], expected: tuple[str | None, str]
) -> None:
    row = norm(payment(**overrides), **kwargs)
    assert (row["country"], row["country_source"]) == expected


@pytest.mark.parametrize(
    ("overrides", "reason_part"),
    [
        ({"amount": 500.5}, "amount"),
        ({"amount": None}, "amount"),
        ({"id": ""}, "id"),
        ({"currency": None}, "currency"),
        ({"created_at": "yesterday"}, "created_at"),
        ({"captured": "maybe"}, "captured"),
    ],
)
def test_unstorable_payment_raises_with_reason(overrides: dict[str, Any], reason_part: str) -> None:
    with pytest.raises(NormaliseError) as caught:
        norm(payment(**overrides))
    assert reason_part in caught.value.reason


def test_non_object_record_raises() -> None:
    with pytest.raises(NormaliseError, match="not a JSON object"):
        normalise_payment(["pay_1"], state_at=STATE_AT, source="api")  # type: ignore[arg-type]


def test_an_order_keeps_its_expanded_payments_without_card_details_or_full_vpa() -> None:
    # Razorpay's "fetch orders with expanded card payments" sample nests the card with its holder's name.
    card = {
        "id": "card_1",
        "entity": "card",
        "name": "Gaurav Kumar",
        "last4": "1111",
        "network": "Visa",
        "emi": False,
    }
    nested = [payment(card=card), payment(id="pay_A2", method="upi", vpa="gaurav.kumar@exampleupi")]
    order = normalise_order(
        {
            "id": "order_1",
            "entity": "order",
            "amount": 1000,
            "currency": "INR",
            "status": "paid",
            "created_at": 1761998400,
            "payments": {"entity": "collection", "count": 2, "items": nested},
        },
        state_at=STATE_AT,
        source="file",
    )
    kept = order["raw"]["payments"]["items"]
    assert kept[0]["card"] == {"last4": "1111", "network": "Visa"}
    assert kept[1]["vpa"] == "***@exampleupi"
    assert order["raw"]["payments"]["count"] == 2


def test_order_refund_settlement() -> None:
    order = normalise_order(
        {
            "id": "order_1",
            "entity": "order",
            "amount": 1000,
            "amount_paid": 1000,
            "amount_due": 0,
            "currency": "INR",
            "receipt": "",
            "status": "paid",
            "attempts": 1,
            "notes": [],
            "created_at": 1761998400,
        },
        state_at=STATE_AT,
        source="file",
    )
    assert (order["status"], order["amount_paid"], order["amount_due"], order["receipt"]) == (
        "paid",
        1000,
        0,
        None,
    )
    refund = normalise_refund(
        {
            "id": "rfnd_1",
            "payment_id": "pay_1",
            "amount": 300,
            "currency": "INR",
            "status": "processed",
            "speed_processed": "normal",
            "created_at": 1761998400,
        },
        state_at=STATE_AT,
        source="api",
    )
    assert (refund["payment_id"], refund["amount"], refund["status"]) == ("pay_1", 300, "processed")
    settlement = normalise_settlement(
        {
            "id": "setl_1",
            "amount": 9000,
            "status": "processed",
            "fees": 100,
            "tax": 18,
            "utr": "UTR1",
            "created_at": 1761998400,
        },
        state_at=STATE_AT,
        source="api",
    )
    assert (settlement["amount"], settlement["fees"], settlement["tax"], settlement["currency"]) == (
        9000,
        100,
        18,
        "INR",
    )
    with pytest.raises(NormaliseError, match="payment_id"):
        normalise_refund(
            {"id": "rfnd_2", "amount": 1, "currency": "INR", "status": "pending", "created_at": 1},
            state_at=STATE_AT,
            source="api",
        )


def test_settlement_lines_payment_and_refund() -> None:
    common = {
        "currency": "INR",
        "on_hold": False,
        "settled": True,
        "settlement_id": "setl_1",
        "settlement_utr": "UTR1",
        "created_at": 1761998400,
    }
    payment_line = normalise_settlement_line(
        {
            **common,
            "entity_id": "pay_1",
            "type": "payment",
            "amount": 1000,
            "fee": 20,
            "tax": 3,
            "credit": 980,
            "debit": 0,
            "settled_at": 1762171200,
        },
        source="api",
    )
    assert (payment_line["payment_id"], payment_line["credit"], payment_line["fee"]) == ("pay_1", 980, 20)
    assert payment_line["settled_at"] == datetime(2025, 11, 3, 12, 0, tzinfo=UTC)
    refund_line = normalise_settlement_line(
        {
            **common,
            "entity_id": "rfnd_1",
            "type": "refund",
            "payment_id": "pay_1",
            "amount": 300,
            "debit": 300,
            "credit": 0,
            "fee": "",
            "tax": None,
            "settled_at": None,
        },
        source="api",
    )
    assert (
        refund_line["payment_id"],
        refund_line["debit"],
        refund_line["fee"],
        refund_line["settled_at"],
    ) == ("pay_1", 300, 0, None)


def test_whole_valued_float_amounts_are_accepted_as_integers() -> None:
    row = norm(payment(amount=50000.0, amount_refunded=0.0, fee="1180"))
    assert (row["amount"], row["amount_refunded"], row["fee"]) == (50000, 0, 1180)
    assert type(row["amount"]) is int and type(row["amount_refunded"]) is int


# --- issue 16 §2: what the real samples showed ---------------------------------------------------------


def test_a_record_of_another_entity_is_refused() -> None:
    with pytest.raises(NormaliseError, match="'refund' entity, not a payment"):
        norm({**payment(), "entity": "refund"})
    with pytest.raises(NormaliseError, match="'payment' entity, not a order"):
        normalise_order({**payment(), "entity": "payment"}, state_at=STATE_AT, source="api")


@pytest.mark.parametrize(
    ("fields", "due"),
    [
        ({"amount_paid": 0}, 2200),
        ({"amount_paid": 800}, 1400),
        ({"amount_paid": 800, "amount_due": 5}, 5),
        ({}, 2200),
    ],
)
def test_amount_due_is_amount_minus_amount_paid_when_omitted(fields: dict[str, Any], due: int) -> None:
    api = {
        "id": "order_1",
        "entity": "order",
        "amount": 2200,
        "currency": "INR",
        "status": "created",
        "created_at": 1,
    }
    assert normalise_order({**api, **fields}, state_at=STATE_AT, source="api")["amount_due"] == due


def test_tax_falls_back_to_service_tax_and_captured_to_the_status() -> None:
    older = {k: v for k, v in payment().items() if k not in ("tax", "captured")}
    row = norm({**older, "service_tax": 10})
    assert (row["tax"], row["captured"]) == (10, True)
    assert norm({**older, "status": "refunded"})["captured"] is True
    assert norm({**older, "status": "authorized"})["captured"] is False
    assert norm({**older, "status": "failed", "tax": None})["tax"] is None


@pytest.mark.parametrize("method", ["card", "emi"])
def test_upi_fields_are_only_read_for_upi_payments(method: str) -> None:
    row = norm(payment(method=method, vpa="x@okaxis", upi={"flow": "intent", "vpa": "x@ybl"}))
    assert (row["upi_flow"], row["upi_app"]) == (None, None)
    upi = norm(payment(method="upi", card=None, vpa=None, upi={"flow": "intent", "vpa": "x@ybl"}))
    assert (upi["upi_flow"], upi["upi_app"]) == ("intent", "ybl")


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        # +9000090000 parses as Turkish but is not a valid number: the card's domestic flag wins.
        ({"contact": "+9000090000", "international": False}, ("IN", "international_currency")),
        # A valid number keeps its priority over the flag.
        ({"contact": "+14155550123", "international": False}, ("US", "phone")),
        # An invalid number on a shared code, nothing stronger: the code's main region, marked a guess.
        ({"contact": "+1000", "currency": "EUR"}, ("US", "phone_calling_code")),
        ({"contact": "+44123", "currency": "EUR"}, ("GB", "phone_calling_code")),
        ({"contact": "+7000", "currency": "EUR"}, ("RU", "phone_calling_code")),
        # A domestic-only method beats an invalid foreign number.
        ({"contact": "+1000", "method": "upi", "card": None}, ("IN", "domestic_method")),
    ],
)
def test_an_invalid_phone_number_is_weak_evidence(fields: dict[str, Any], expected: tuple[str, str]) -> None:
    api = {k: v for k, v in payment(notes=[]).items() if k != "international"}
    row = norm({**api, **fields})
    assert (row["country"], row["country_source"]) == expected


@pytest.mark.parametrize(
    ("amount", "word"),
    [
        ("\u00b2", "not an integer"),
        ("\u0661\u0662", "not an integer"),
        (2**63, "outside"),
        (2**64, "outside"),
        (float(2**64), "outside"),
        (-1, "outside"),
        ("99999999999999999999999", "not an integer"),
    ],
)
def test_amounts_are_ascii_digit_non_negative_64_bit_integers(amount: Any, word: str) -> None:
    with pytest.raises(NormaliseError, match=word):
        norm(payment(amount=amount))
    assert norm(payment(amount="50000"))["amount"] == 50000
    assert norm(payment(amount=2**63 - 1))["amount"] == 2**63 - 1


@pytest.mark.parametrize(("field", "width"), [("id", 40), ("status", 16), ("order_id", 40)])
def test_values_wider_than_their_column_are_refused_on_every_database(field: str, width: int) -> None:
    with pytest.raises(NormaliseError, match=f"{field} longer than {width}"):
        norm(payment(**{field: "x" * (width + 1)}))


def _country_by_full_parse(contact: str) -> tuple[str | None, bool]:
    """What _phone_country answers through phonenumbers.parse alone (its path for every other shape)."""
    number = phonenumbers.parse(contact, None)
    if phonenumbers.is_valid_number(number):
        found = phonenumbers.region_code_for_number(number)
        if found and found != "001":
            return str(found), True
    main = phonenumbers.region_code_for_country_code(number.country_code or 0)
    return (str(main) if main and main not in ("001", "ZZ") else None), False


@settings(max_examples=400, deadline=None)
@given(national=st.from_regex(r"[6-9][0-9]{9}", fullmatch=True))
def test_the_indian_mobile_fast_path_answers_as_a_full_parse(national: str) -> None:
    contact = f"+91{national}"
    assert _phone_country.__wrapped__(contact) == _country_by_full_parse(contact)


@pytest.mark.parametrize(
    "contact",
    ["+919876543210", "+916000000000", "+919999999999", "+917000012345", "+918361830715", "+915876543210"],
)
def test_indian_numbers_keep_their_country_and_validity(contact: str) -> None:
    assert _phone_country.__wrapped__(contact) == _country_by_full_parse(contact)


@pytest.mark.parametrize(
    "contact", ["+91９876543210", "+91 9876543210", "+9109876543210", "+9198765432101", "+91987654321"]
)
def test_other_shapes_of_indian_numbers_still_take_the_full_parse(contact: str) -> None:
    assert _INDIAN_MOBILE_SHAPE.fullmatch(contact) is None
    assert _phone_country.__wrapped__(contact) == _country_by_full_parse(contact)
