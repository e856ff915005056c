"""What each Razorpay sample must become in payops, by the documented meaning of its fields.

One small mapping per entity, written from Razorpay's API reference (not from payops' normalisers), so a
sample added to tests/fixtures/razorpay is checked without touching the tests:

- amounts are integers in the currency's smallest unit (paise); `created_at` is Unix seconds, stored UTC;
- a record whose own `entity` is not the entity being loaded, or that lacks a field the reference marks
  as always present (`id`, `amount`, `currency`, `status`, `created_at`), is quarantined with its reason;
- derived fields follow the reference: an order's `amount_due` is amount − amount_paid; a payment's
  `tax` falls back to the older `service_tax`; `captured` is true for captured and refunded payments;
- card fields come from the `card` object; UPI flow and app only for `method == "upi"`;
- nested collections (`expand[]=payments` on orders, `transfers`) are loaded as their own rows when
  payops stores that entity, else quarantined with a reason naming them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import phonenumbers
from babel.numbers import get_currency_precision

# The folders under api/ are the `--entity` names of `python -m sync load`.
API_ENTITY = {
    "payments": "payment",
    "orders": "order",
    "refunds": "refund",
    "settlements": "settlement",
    "settlement_lines": None,  # recon lines carry no `entity` of their own
    "disputes": "dispute",
    "downtimes": "payment.downtime",  # what a downtime's `entity` says, where it says anything
}
STORED_NESTED = {"payments": "payments"}  # nested collection key → the table its items are loaded into

REQUIRED = {
    "payments": ("id", "amount", "currency", "status", "created_at"),
    "orders": ("id", "amount", "currency", "status", "created_at"),
    "refunds": ("id", "payment_id", "amount", "currency", "status", "created_at"),
    "settlements": ("id", "amount", "status", "created_at"),
    "settlement_lines": ("entity_id", "type", "amount", "created_at"),
    "disputes": ("id", "payment_id", "amount", "status", "created_at"),
    "downtimes": ("id", "status", "begin"),
}


@dataclass
class Expectation:
    """Rows that must exist (table → id → column → value) and records that must be quarantined."""

    rows: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    # (table name used as quarantine entity, record id or None, a word the reason must contain)
    quarantined: list[tuple[str, str | None, str]] = field(default_factory=list)

    def row(self, table: str, key: str, values: dict[str, Any]) -> None:
        self.rows.setdefault(table, {})[key] = values


def records_of(document: Any) -> list[Any]:
    if isinstance(document, Mapping) and document.get("entity") == "collection":
        return list(document.get("items") or [])
    if isinstance(document, list):
        return document
    return [document]


def utc(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _missing(api: Mapping[str, Any], table: str) -> str | None:
    for name in REQUIRED[table]:
        if api.get(name) in (None, ""):
            return name
    return None


def _handle(vpa: Any) -> str | None:
    if isinstance(vpa, str) and "@" in vpa:
        return vpa.rsplit("@", 1)[1].lower() or None
    return None


def expected_country(api: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """(country, country_source) where the evidence is unambiguous, else (None, None): not asserted."""
    contact = api.get("contact")
    method = api.get("method")
    number = None
    if isinstance(contact, str) and contact.startswith("+"):
        try:
            number = phonenumbers.parse(contact, None)
        except phonenumbers.NumberParseException:
            number = None
        if number is not None and phonenumbers.is_valid_number(number):
            return phonenumbers.region_code_for_number(number), "phone"
    if method in ("upi", "netbanking"):
        return "IN", "domestic_method"
    if api.get("international") is False and api.get("currency") == "INR":
        # The instrument's own domestic flag beats an invalid phone number.
        return "IN", "international_currency"
    notes = api.get("notes")
    nothing_stronger = "international" not in api and not (
        isinstance(notes, Mapping) and notes.get("country")
    )
    if number is not None and nothing_stronger:
        # An invalid number on a calling code: the code's main region, marked as a guess.
        return phonenumbers.region_code_for_country_code(number.country_code or 0), "phone_calling_code"
    return None, None


def expected_base(api: Mapping[str, Any]) -> tuple[int | None, str | None]:
    """(base_amount, base_currency). Razorpay's currency-conversion page: both are present when the
    payment's currency is not the account's base currency; `base_currency` defaults to INR. Samples in
    the base currency carry `base_amount` equal to `amount` and no `base_currency` (INR on an Indian
    account, MYR in the FPX sample): no conversion, so the base currency is the payment's own."""
    currency = api["currency"].upper()
    base_amount = api.get("base_amount")
    base_currency = api.get("base_currency")
    if base_amount is not None:
        if base_currency:
            return base_amount, base_currency.upper()
        return base_amount, currency if base_amount == api["amount"] else "INR"
    if currency == "INR":
        return api["amount"], "INR"
    return None, None


def expected_conversion_rate(
    amount: int, currency: str, base_amount: int | None, base_currency: str | None
) -> Decimal | None:
    """The currency-conversion page's "visibility into the conversion rate": base major units per major
    unit paid (7129 paise for 100 cents is 71.29 INR per USD), to the column's 10 places."""
    if base_amount is None or base_currency in (None, currency) or amount <= 0:
        return None
    paid = Decimal(amount).scaleb(-get_currency_precision(currency))
    credited = Decimal(base_amount).scaleb(-get_currency_precision(base_currency))
    return (credited / paid).quantize(Decimal("1e-10"))


def expected_payment(api: Mapping[str, Any]) -> dict[str, Any]:
    card: Mapping[str, Any] = api["card"] if isinstance(api.get("card"), Mapping) else {}
    upi: Mapping[str, Any] = api["upi"] if isinstance(api.get("upi"), Mapping) else {}
    status = api["status"]
    captured = api.get("captured")
    tax = api.get("tax") if api.get("tax") is not None else api.get("service_tax")
    is_upi = api.get("method") == "upi"
    values: dict[str, Any] = {
        "amount": api["amount"],
        "currency": api["currency"].upper(),
        "status": status,
        "method": api.get("method") or None,
        "order_id": api.get("order_id") or None,
        "international": bool(api.get("international")),
        "captured": captured if isinstance(captured, bool) else status in ("captured", "refunded"),
        "amount_refunded": api.get("amount_refunded") or 0,
        "fee": api.get("fee"),
        "tax": tax,
        "bank": api.get("bank") or None,
        "wallet": api.get("wallet") or None,
        "card_network": card.get("network") or None,
        "card_type": card.get("type") or None,
        "card_last4": card.get("last4") or None,
        "upi_flow": (upi.get("flow") or None) if is_upi else None,
        "upi_app": (_handle(api.get("vpa")) or _handle(upi.get("vpa"))) if is_upi else None,
        "error_code": api.get("error_code") or None,
        "created_at": utc(api["created_at"]),
    }
    values["base_amount"], values["base_currency"] = expected_base(api)
    values["conversion_rate"] = expected_conversion_rate(
        api["amount"], values["currency"], *expected_base(api)
    )
    country, source = expected_country(api)
    if country is not None:
        values["country"] = country
        values["country_source"] = source
    return values


def expected_order(api: Mapping[str, Any]) -> dict[str, Any]:
    paid = api.get("amount_paid") or 0
    due = api.get("amount_due")
    return {
        "amount": api["amount"],
        "amount_paid": paid,
        "amount_due": due if due is not None else api["amount"] - paid,
        "currency": api["currency"].upper(),
        "status": api["status"],
        "attempts": api.get("attempts") or 0,
        "receipt": api.get("receipt") or None,
        "created_at": utc(api["created_at"]),
    }


def expected_refund(api: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "payment_id": api["payment_id"],
        "amount": api["amount"],
        "currency": api["currency"].upper(),
        "status": api["status"],
        "speed_processed": api.get("speed_processed") or None,
        "created_at": utc(api["created_at"]),
    }


def expected_settlement(api: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "amount": api["amount"],
        "currency": (api.get("currency") or "INR").upper(),  # settlements are paid out in INR
        "status": api["status"],
        "fees": api.get("fees") or 0,
        "tax": api.get("tax") or 0,
        "utr": api.get("utr") or None,
        "created_at": utc(api["created_at"]),
    }


def expected_settlement_line(api: Mapping[str, Any]) -> dict[str, Any]:
    line_type = api["type"]
    return {
        "type": line_type,
        "payment_id": api["entity_id"] if line_type == "payment" else (api.get("payment_id") or None),
        "amount": api["amount"],
        "fee": api.get("fee") or 0,
        "tax": api.get("tax") or 0,
        "debit": api.get("debit") or 0,
        "credit": api.get("credit") or 0,
        "currency": (api.get("currency") or "INR").upper(),
        "settled": bool(api.get("settled")),
        "settlement_id": api.get("settlement_id") or None,
        "settled_at": utc(api["settled_at"]) if api.get("settled_at") else None,
        "order_id": api.get("order_id") or None,
        "method": api.get("method") or None,
        "card_network": api.get("card_network") or None,
        "created_at": utc(api["created_at"]),
    }


def expected_dispute(api: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "payment_id": api["payment_id"],
        "amount": api["amount"],
        "amount_deducted": api.get("amount_deducted") or 0,
        "currency": (api.get("currency") or "INR").upper(),
        "reason_code": api.get("reason_code") or None,
        "phase": api.get("phase") or None,
        "status": api["status"],
        "respond_by": utc(api["respond_by"]) if api.get("respond_by") else None,
        "created_at": utc(api["created_at"]),
    }


def expected_downtime(api: Mapping[str, Any]) -> dict[str, Any]:
    # The instrument is named by the keys the downtime's method uses: bank (netbanking), issuer or
    # network (cards), vpa_handle, psp or flow (UPI).
    instrument: Mapping[str, Any] = api["instrument"] if isinstance(api.get("instrument"), Mapping) else {}
    return {
        "method": api.get("method") or None,
        "bank": instrument.get("bank") or None,
        "issuer": instrument.get("issuer") or None,
        "card_network": instrument.get("network") or None,
        "vpa_handle": instrument.get("vpa_handle") or None,
        "psp": instrument.get("psp") or None,
        "flow": instrument.get("flow") or None,
        "severity": api.get("severity") or None,
        "status": api["status"],
        "scheduled": bool(api.get("scheduled")),
        "begin": utc(api["begin"]),
        "end": utc(api["end"]) if api.get("end") else None,
        # A downtime without its own created_at began then at the latest.
        "created_at": utc(api["created_at"] if api.get("created_at") else api["begin"]),
    }


EXPECTED = {
    "payments": expected_payment,
    "orders": expected_order,
    "refunds": expected_refund,
    "settlements": expected_settlement,
    "settlement_lines": expected_settlement_line,
    "disputes": expected_dispute,
    "downtimes": expected_downtime,
}
KEY = {"settlement_lines": "entity_id"}


def expect_record(table: str, api: Any, into: Expectation) -> None:
    """What loading one record as `table` must do, including its nested collections."""
    if not isinstance(api, Mapping):
        into.quarantined.append((table, None, "not a JSON object"))
        return
    key = KEY.get(table, "id")
    record_id = api.get(key) if isinstance(api.get(key), str) else None
    own = api.get("entity")
    wanted = API_ENTITY[table]
    if wanted is not None and own is not None and own != wanted:
        into.quarantined.append((table, record_id, "entity"))
        return
    missing = _missing(api, table)
    if missing is not None:
        into.quarantined.append((table, record_id, missing))
        return
    assert record_id is not None
    into.row(table, record_id, EXPECTED[table](api))
    for nested_key, nested in api.items():
        if isinstance(nested, Mapping) and nested.get("entity") == "collection":
            target = STORED_NESTED.get(nested_key)
            for child in records_of(nested):
                if target is not None:
                    expect_record(target, child, into)
                else:
                    child_id = child.get("id") if isinstance(child, Mapping) else None
                    into.quarantined.append((table, child_id, nested_key))


def expect_api_file(table: str, document: Any) -> Expectation:
    into = Expectation()
    for record in records_of(document):
        expect_record(table, record, into)
    return into


# --- webhooks -----------------------------------------------------------------------------------------

APPLIED_ENTITIES = {
    "payment": "payments",
    "order": "orders",
    "refund": "refunds",
    "settlement": "settlements",
    "dispute": "disputes",
    "payment.downtime": "downtimes",
}


def envelope_created_at(envelope: Mapping[str, Any]) -> int | None:
    """The event time: the envelope's `created_at`, or (as in the refund.speed_changed sample) the payload's."""
    for holder in (envelope, envelope.get("payload") or {}):
        value = holder.get("created_at") if isinstance(holder, Mapping) else None
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def payload_entities(envelope: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    payload = envelope.get("payload") or {}
    found: dict[str, Mapping[str, Any]] = {}
    for name, wrapper in payload.items():
        if isinstance(wrapper, Mapping) and isinstance(wrapper.get("entity"), Mapping):
            found[name] = wrapper["entity"]
    return found
