"""Normalisers: pure functions from one Razorpay API dict to one row dict of the model of the same name.

Every field quirk lives here (`notes` as `[]`, `error_code` as `""`, a missing `card`), and so does the
derivation of a payment's country. A record that cannot be stored raises `NormaliseError(reason)`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import phonenumbers
import pycountry

from data.money import conversion_rate

__all__ = [
    "BASE_CURRENCY",
    "COUNTRY_SOURCES",
    "NormaliseError",
    "base_amount_of",
    "derive_country",
    "normalise_dispute",
    "normalise_downtime",
    "normalise_order",
    "normalise_payment",
    "normalise_refund",
    "normalise_settlement",
    "normalise_settlement_line",
    "scrub_payment_raw",
    "upi_handle",
]

# The account's base currency: Razorpay states fee, tax, recon lines and settlements of an Indian
# account in INR, whatever the customer paid in.
BASE_CURRENCY = "INR"

# "phone": a number `phonenumbers` says is valid; "phone_calling_code": only the calling code of a number
# that is not valid (weak evidence, used when nothing stronger exists).
COUNTRY_SOURCES = (
    "notes",
    "phone",
    "international_currency",
    "domestic_method",
    "phone_calling_code",
    "unknown",
)

# 64-bit signed integer range: what BigInteger holds on both databases.
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

# Column widths of data/models.py: a longer value is refused by PostgreSQL (SQLite would keep it), so the
# normalisers refuse it first and both databases behave the same.
ID_WIDTH = 40
STATUS_WIDTH = 16

# Methods Razorpay only offers to Indian buyers: a payment made with them is domestic whatever else it says.
DOMESTIC_METHODS = frozenset({"upi", "netbanking"})

# Currencies that belong to exactly one country; EUR and the like name no single country and are skipped.
SINGLE_COUNTRY_CURRENCIES: dict[str, str] = {
    "INR": "IN",
    "USD": "US",
    "GBP": "GB",
    "SGD": "SG",
    "AED": "AE",
    "AUD": "AU",
    "CAD": "CA",
    "JPY": "JP",
    "CHF": "CH",
    "HKD": "HK",
    "MYR": "MY",
    "NZD": "NZ",
    "SAR": "SA",
    "QAR": "QA",
    "KWD": "KW",
    "OMR": "OM",
    "BHD": "BH",
    "THB": "TH",
    "LKR": "LK",
    "NPR": "NP",
    "BDT": "BD",
    "ZAR": "ZA",
    "SEK": "SE",
    "NOK": "NO",
    "DKK": "DK",
    "CNY": "CN",
}

CARD_FIELDS = ("network", "type", "issuer", "last4", "international")


class NormaliseError(ValueError):
    """The record cannot be stored; `reason` says why (it goes to the quarantine table)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# --- field readers: each one turns an API quirk into a clean value or a NormaliseError ---------------


def _required_str(api: Mapping[str, Any], field: str, max_length: int | None = None) -> str:
    value = api.get(field)
    if not isinstance(value, str) or not value:
        raise NormaliseError(f"{field} missing or not a string: {_shown(value)}")
    if max_length is not None and len(value) > max_length:
        raise NormaliseError(f"{field} longer than {max_length} characters")
    if "\x00" in value:
        raise NormaliseError(f"{field} holds a U+0000 character")
    return value


def _shown(value: object) -> str:
    """A value for a quarantine reason: short, so a hostile record cannot make the reason huge."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _optional_str(api: Mapping[str, Any], field: str, max_length: int | None = None) -> str | None:
    # Razorpay sends "" (and sometimes null) for "no value"; both mean None here.
    value = api.get(field)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        value = str(value)
    if max_length is not None and len(value) > max_length:
        raise NormaliseError(f"{field} longer than {max_length} characters")
    if "\x00" in value:
        raise NormaliseError(f"{field} holds a U+0000 character")
    return value


def _required_int(api: Mapping[str, Any], field: str, *, minimum: int = INT64_MIN) -> int:
    value = api.get(field)
    number: int | None = None
    # A whole-valued float (100.0) is a serialiser's artefact; a fractional one would mean someone
    # converted paise to rupees. bool is an int subclass and never a number here. Strings: ASCII
    # digits only, since str.isdigit() also accepts "²" or "١", which int() rejects or misreads.
    whole_float = isinstance(value, float) and value.is_integer()
    digits = isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 20
    if whole_float or digits or (isinstance(value, int) and not isinstance(value, bool)):
        number = int(value)  # type: ignore[arg-type]
    if number is None:
        raise NormaliseError(f"{field} missing or not an integer: {_shown(value)}")
    if not minimum <= number <= INT64_MAX:
        raise NormaliseError(f"{field} outside {minimum}..{INT64_MAX}: {_shown(number)}")
    return number


def _amount(api: Mapping[str, Any], field: str) -> int:
    """A money amount: integer minor units, never negative."""
    return _required_int(api, field, minimum=0)


def _optional_int(api: Mapping[str, Any], field: str, *, minimum: int = INT64_MIN) -> int | None:
    if api.get(field) is None or api.get(field) == "":
        return None
    return _required_int(api, field, minimum=minimum)


def _optional_amount(api: Mapping[str, Any], field: str) -> int | None:
    return _optional_int(api, field, minimum=0)


def _amount_or_zero(api: Mapping[str, Any], field: str) -> int:
    value = _optional_amount(api, field)
    return 0 if value is None else value


def _flag(api: Mapping[str, Any], field: str) -> bool:
    value = api.get(field)
    if value is None or value == "":
        return False
    if isinstance(value, bool):
        return value
    if value in (0, 1, "0", "1"):
        return bool(int(value))
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise NormaliseError(f"{field} is not a boolean: {value!r}")


def _epoch(api: Mapping[str, Any], field: str) -> datetime:
    seconds = _required_int(api, field)
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError) as error:
        raise NormaliseError(f"{field} is not a valid Unix time: {_shown(seconds)}") from error


def _optional_epoch(api: Mapping[str, Any], field: str) -> datetime | None:
    if api.get(field) is None or api.get(field) == "":
        return None
    return _epoch(api, field)


def _notes(api: Mapping[str, Any]) -> Mapping[str, Any]:
    # Razorpay serialises empty notes as a JSON array `[]` (a PHP quirk); a list has no keys.
    notes = api.get("notes")
    return notes if isinstance(notes, Mapping) else {}


def _sub_object(api: Mapping[str, Any], field: str) -> Mapping[str, Any]:
    value = api.get(field)
    return value if isinstance(value, Mapping) else {}


# The `entity` value Razorpay gives an object, where it is not the normaliser's own name.
_API_ENTITY = {"downtime": "payment.downtime"}


def _check_mapping(api: object, entity: str) -> Mapping[str, Any]:
    if not isinstance(api, Mapping):
        raise NormaliseError(f"{entity} record is not a JSON object: {type(api).__name__}")
    # Every Razorpay object names its own kind; a refund or an order is never stored as a payment.
    own = api.get("entity")
    if own is not None and own != _API_ENTITY.get(entity, entity):
        raise NormaliseError(f"record is a {_shown(own)} entity, not a {entity}")
    return api


# --- country ------------------------------------------------------------------------------------------


@lru_cache(maxsize=4096)
def _country_code(value: str) -> str | None:
    """An ISO 3166 alpha-2 code for a code, alpha-3 or name the merchant wrote in `notes`."""
    text = value.strip()
    if not text:
        return None
    if len(text) == 2:
        found = pycountry.countries.get(alpha_2=text.upper())
    else:
        try:
            found = pycountry.countries.lookup(text)
        except LookupError:
            found = None
    return str(found.alpha_2) if found is not None else None


_NEEDS_FULL_PARSE = ""


@lru_cache(maxsize=4096)
def _region_of_calling_code(head: str) -> str | None:
    """The region of the calling code that starts `head` (the 1–3 digits after "+"), None when no code
    matches, or _NEEDS_FULL_PARSE when the code is shared (+1, +7, +44 …) and the number decides."""
    # Calling codes are prefix-free, so the first known prefix is the code.
    for length in (1, 2, 3):
        prefix = head[:length]
        if len(prefix) < length or not prefix.isdigit():
            return None
        regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(int(prefix))
        if regions is not None:
            if len(regions) == 1 and regions[0] != "001":
                return str(regions[0])
            return _NEEDS_FULL_PARSE
    return None


_INDIAN_MOBILE_SHAPE = re.compile(r"\+91[6-9][0-9]{9}", re.ASCII)


@lru_cache(maxsize=65536)
def _phone_country(contact: str | None) -> tuple[str | None, bool]:
    """(region, whether the number is valid). An invalid number still names its calling code's
    region (for a shared code such as +1, +7 or +44, the code's main region): weak evidence."""
    if not contact or contact[0] != "+":
        # Without a leading "+" the number is local to an unknown country: no evidence.
        return None, False
    if _INDIAN_MOBILE_SHAPE.fullmatch(contact):
        # Most contacts are +91 and ten ASCII digits starting 6–9: no national prefix to strip, no
        # extension, no formatting, so `parse` would yield exactly this number; building it skips the
        # parse (most of the cost). Validity is still phonenumbers' own.
        number = phonenumbers.PhoneNumber(country_code=91, national_number=int(contact[3:]))
    else:
        try:
            number = phonenumbers.parse(contact, None)
        except phonenumbers.NumberParseException:
            return _region_of_calling_code(contact[1:4]) or None, False
    if phonenumbers.is_valid_number(number):
        found = phonenumbers.region_code_for_number(number)
        if found and found != "001":
            return str(found), True
    main = phonenumbers.region_code_for_country_code(number.country_code or 0)
    return (str(main) if main and main not in ("001", "ZZ") else None), False


def derive_country(
    *,
    notes: Mapping[str, Any],
    contact: str | None,
    international: bool | None,
    currency: str | None,
    method: str | None,
    country_notes_key: str = "country",
) -> tuple[str | None, str]:
    """(country, how it was derived), trying the evidence from strongest to weakest."""
    if country_notes_key:
        noted = notes.get(country_notes_key)
        if isinstance(noted, str):
            code = _country_code(noted)
            if code is not None:
                return code, "notes"
    phone_country, phone_valid = _phone_country(contact)
    if phone_country is not None and phone_valid:
        return phone_country, "phone"
    if international is True and currency is not None and currency != "INR":
        foreign = SINGLE_COUNTRY_CURRENCIES.get(currency)
        if foreign is not None:
            return foreign, "international_currency"
    if method in DOMESTIC_METHODS:
        return "IN", "domestic_method"
    if international is False and currency == "INR":
        # Razorpay marks Indian-issued instruments as not international: that beats an invalid number.
        return "IN", "international_currency"
    if phone_country is not None:
        return phone_country, "phone_calling_code"
    return None, "unknown"


# --- payment ------------------------------------------------------------------------------------------


def upi_handle(vpa: object) -> str | None:
    """The provider handle of a VPA ("okhdfcbank" of "name@okhdfcbank"): the UPI app, not the person."""
    if not isinstance(vpa, str) or "@" not in vpa:
        return None
    handle = vpa.rsplit("@", 1)[1].strip().lower()
    return handle or None


def _masked_vpa(vpa: object) -> object:
    handle = upi_handle(vpa)
    if handle is not None:
        return f"***@{handle}"
    return None if vpa in (None, "") else "***"


def scrub_payment_raw(api: Mapping[str, Any]) -> dict[str, Any]:
    """The payment JSON minus what payops must not keep: the full VPA and card details beyond the five shown."""
    raw = dict(api)
    if raw.get("vpa") not in (None, ""):
        raw["vpa"] = _masked_vpa(raw["vpa"])
    upi = raw.get("upi")
    if isinstance(upi, Mapping) and upi.get("vpa") not in (None, ""):
        raw["upi"] = {**upi, "vpa": _masked_vpa(upi["vpa"])}
    card = raw.get("card")
    if isinstance(card, Mapping):
        raw["card"] = {field: card[field] for field in CARD_FIELDS if field in card}
    return raw


def _currency(api: Mapping[str, Any], field: str = "currency", default: str | None = None) -> str:
    value = _optional_str(api, field) if default is not None else _required_str(api, field)
    code = (value or default or "").upper()
    if len(code) != 3 or not code.isascii() or not code.isalpha():
        raise NormaliseError(f"{field} is not an ISO 4217 code: {_shown(code)}")
    return code


def _tax(api: Mapping[str, Any]) -> int | None:
    # Older payloads (the SDKs' webhook samples) carry the GST on the fee as `service_tax`.
    tax = _optional_amount(api, "tax")
    return tax if tax is not None else _optional_amount(api, "service_tax")


def _captured(api: Mapping[str, Any], status: str) -> bool:
    # `captured` is true once a payment is captured, and stays true after a refund; when the API
    # leaves the flag out, the status says it.
    if api.get("captured") is None or api.get("captured") == "":
        return status in ("captured", "refunded")
    return _flag(api, "captured")


def base_amount_of(api: Mapping[str, Any], amount: int, currency: str) -> tuple[int | None, str | None]:
    """(base_amount, base_currency): the API's own figures when it gives them (international payments);
    else the amount itself for a payment in the base currency; else unknown (None, None), never a guess.

    Razorpay sends `base_currency` only when the payment's currency is not the account's base currency,
    and it defaults to INR. A `base_amount` equal to the amount with no `base_currency` is a payment in
    its own base currency (every INR sample; MYR in the FPX sample of a Malaysian account), not INR."""
    base_amount = _optional_amount(api, "base_amount")
    base_currency = _optional_str(api, "base_currency")
    if base_amount is not None:
        if base_currency is None and base_amount == amount:
            return base_amount, currency
        code = (base_currency or BASE_CURRENCY).upper()
        if len(code) != 3:
            raise NormaliseError(f"base_currency is not an ISO 4217 code: {code!r}")
        return base_amount, code
    if currency == BASE_CURRENCY or (base_currency is not None and base_currency.upper() == currency):
        return amount, currency
    return None, None


def normalise_payment(
    api: Mapping[str, Any],
    *,
    state_at: datetime,
    source: str,
    country_notes_key: str = "country",
) -> dict[str, Any]:
    api = _check_mapping(api, "payment")
    card = _sub_object(api, "card")  # absent unless expand[]=card (or in a webhook)
    method = _optional_str(api, "method", 32)
    # Some card and EMI payloads carry a `upi` block too; a UPI flow or app means something only for UPI.
    upi = _sub_object(api, "upi") if method == "upi" else {}
    currency = _currency(api)
    international = _flag(api, "international") if "international" in api else None
    contact = _optional_str(api, "contact", 32)
    country, country_source = derive_country(
        notes=_notes(api),
        contact=contact,
        international=international,
        currency=currency,
        method=method,
        country_notes_key=country_notes_key,
    )
    status = _required_str(api, "status", STATUS_WIDTH)
    last4 = _optional_str(card, "last4")
    amount = _amount(api, "amount")
    base_amount, base_currency = base_amount_of(api, amount, currency)
    return {
        "id": _required_str(api, "id", ID_WIDTH),
        "order_id": _optional_str(api, "order_id", ID_WIDTH),
        "amount": amount,
        "currency": currency,
        "base_amount": base_amount,
        "base_currency": base_currency,
        "conversion_rate": conversion_rate(amount, currency, base_amount, base_currency),
        "status": status,
        "method": method,
        "international": bool(international),
        "captured": _captured(api, status),
        "amount_refunded": _amount_or_zero(api, "amount_refunded"),
        "refund_status": _optional_str(api, "refund_status", 16),
        "fee": _optional_amount(api, "fee"),
        "tax": _tax(api),
        "bank": _optional_str(api, "bank", 32),
        "wallet": _optional_str(api, "wallet", 32),
        "card_network": _optional_str(card, "network", 32),
        "card_type": _optional_str(card, "type", 16),
        "card_issuer": _optional_str(card, "issuer", 32),
        "card_international": _flag(card, "international") if "international" in card else None,
        "card_last4": last4[-4:] if last4 else None,
        "upi_flow": _optional_str(upi, "flow", 16),
        "upi_app": (upi_handle(api.get("vpa")) or upi_handle(upi.get("vpa"))) if method == "upi" else None,
        "email": _optional_str(api, "email", 254),
        "contact": contact,
        "country": country,
        "country_source": country_source,
        "error_code": _optional_str(api, "error_code", 64),
        "error_description": _optional_str(api, "error_description"),
        "error_source": _optional_str(api, "error_source", 64),
        "error_step": _optional_str(api, "error_step", 64),
        "error_reason": _optional_str(api, "error_reason", 128),
        "created_at": _epoch(api, "created_at"),
        "state_at": state_at,
        "source": source,
        "raw": scrub_payment_raw(api),
    }


# --- the other entities -------------------------------------------------------------------------------


def normalise_order(api: Mapping[str, Any], *, state_at: datetime, source: str) -> dict[str, Any]:
    api = _check_mapping(api, "order")
    amount = _amount(api, "amount")
    amount_paid = _amount_or_zero(api, "amount_paid")
    amount_due = _optional_amount(api, "amount_due")
    return {
        "id": _required_str(api, "id", ID_WIDTH),
        "amount": amount,
        "amount_paid": amount_paid,
        # What is still owed; when the API leaves it out it is amount − amount_paid, never 0 by default.
        "amount_due": amount_due if amount_due is not None else max(0, amount - amount_paid),
        "currency": _currency(api),
        "status": _required_str(api, "status", STATUS_WIDTH),
        "attempts": _count(api, "attempts"),
        "receipt": _optional_str(api, "receipt", 64),
        "created_at": _epoch(api, "created_at"),
        "state_at": state_at,
        "source": source,
        "raw": _scrub_order_raw(api),
    }


def _scrub_order_raw(api: Mapping[str, Any]) -> dict[str, Any]:
    """The order JSON with the payments an `expand[]=payments` listing nests in it cut down as a payment's
    own raw is (no full VPA, no card details beyond the five shown): the order must not keep what the
    payment row may not."""
    raw = dict(api)
    nested = raw.get("payments")
    if isinstance(nested, Mapping) and isinstance(nested.get("items"), list):
        items = [scrub_payment_raw(item) if isinstance(item, Mapping) else item for item in nested["items"]]
        raw["payments"] = {**nested, "items": items}
    return raw


def _count(api: Mapping[str, Any], field: str) -> int:
    # A count in an Integer column: 32-bit on PostgreSQL.
    value = _amount_or_zero(api, field)
    if value > 2**31 - 1:
        raise NormaliseError(f"{field} beyond the 32-bit column: {_shown(value)}")
    return value


def normalise_refund(api: Mapping[str, Any], *, state_at: datetime, source: str) -> dict[str, Any]:
    api = _check_mapping(api, "refund")
    return {
        "id": _required_str(api, "id", ID_WIDTH),
        "payment_id": _required_str(api, "payment_id", ID_WIDTH),
        "amount": _amount(api, "amount"),
        "currency": _currency(api),
        "status": _required_str(api, "status", STATUS_WIDTH),
        "speed_processed": _optional_str(api, "speed_processed", 16),
        "created_at": _epoch(api, "created_at"),
        "state_at": state_at,
        "source": source,
        "raw": dict(api),
    }


def normalise_settlement(api: Mapping[str, Any], *, state_at: datetime, source: str) -> dict[str, Any]:
    api = _check_mapping(api, "settlement")
    return {
        "id": _required_str(api, "id", ID_WIDTH),
        "amount": _amount(api, "amount"),
        "currency": _currency(api, default="INR"),
        "status": _required_str(api, "status", STATUS_WIDTH),
        "fees": _amount_or_zero(api, "fees"),
        "tax": _amount_or_zero(api, "tax"),
        "utr": _optional_str(api, "utr", 64),
        "created_at": _epoch(api, "created_at"),
        "state_at": state_at,
        "source": source,
        "raw": dict(api),
    }


def normalise_settlement_line(api: Mapping[str, Any], *, source: str) -> dict[str, Any]:
    if not isinstance(api, Mapping):
        raise NormaliseError(f"settlement_line record is not a JSON object: {type(api).__name__}")
    entity_id = _required_str(api, "entity_id", ID_WIDTH)
    line_type = _required_str(api, "type", 16)
    payment_id = entity_id if line_type == "payment" else _optional_str(api, "payment_id", ID_WIDTH)
    return {
        "entity_id": entity_id,
        "type": line_type,
        "payment_id": payment_id,
        "amount": _amount(api, "amount"),
        "fee": _int_or_zero(api, "fee"),
        "tax": _int_or_zero(api, "tax"),
        "debit": _amount_or_zero(api, "debit"),
        "credit": _amount_or_zero(api, "credit"),
        "currency": _currency(api, default="INR"),
        "on_hold": _flag(api, "on_hold"),
        "settled": _flag(api, "settled"),
        "settlement_id": _optional_str(api, "settlement_id", ID_WIDTH),
        "settlement_utr": _optional_str(api, "settlement_utr", 64),
        "dispute_id": _optional_str(api, "dispute_id", 40),
        "settled_at": _optional_epoch(api, "settled_at"),
        "order_id": _optional_str(api, "order_id", ID_WIDTH),
        "method": _optional_str(api, "method", 32),
        "card_network": _optional_str(api, "card_network", 32),
        "created_at": _epoch(api, "created_at"),
        "source": source,
        "raw": dict(api),
    }


def _int_or_zero(api: Mapping[str, Any], field: str) -> int:
    # Fee and tax of an adjustment line may be negative (a reversal); any 64-bit integer is accepted.
    value = _optional_int(api, field)
    return 0 if value is None else value


def normalise_dispute(api: Mapping[str, Any], *, state_at: datetime, source: str) -> dict[str, Any]:
    api = _check_mapping(api, "dispute")
    return {
        "id": _required_str(api, "id"),
        "payment_id": _required_str(api, "payment_id"),
        "amount": _required_int(api, "amount"),
        "amount_deducted": _int_or_zero(api, "amount_deducted"),
        "currency": (_optional_str(api, "currency") or BASE_CURRENCY).upper(),
        "reason_code": _optional_str(api, "reason_code", 64),
        "reason_description": _optional_str(api, "reason_description"),
        "phase": _optional_str(api, "phase", 32),
        "status": _required_str(api, "status"),
        "respond_by": _optional_epoch(api, "respond_by"),
        "created_at": _epoch(api, "created_at"),
        "state_at": state_at,
        "source": source,
        "raw": dict(api),
    }


# Razorpay names the affected instrument with the keys its `instrument_schema` lists; these are the
# ones documented for cards (issuer or network, with card_type), netbanking (bank) and UPI (vpa_handle,
# psp, flow). Wallet and EMI downtimes name a bank/issuer the same way.
_DOWNTIME_INSTRUMENT = {
    "bank": ("bank", 32),
    "issuer": ("issuer", 32),
    "card_network": ("network", 32),
    "card_type": ("card_type", 16),
    "vpa_handle": ("vpa_handle", 64),
    "psp": ("psp", 64),
    "flow": ("flow", 16),
}


def normalise_downtime(api: Mapping[str, Any], *, state_at: datetime, source: str) -> dict[str, Any]:
    api = _check_mapping(api, "downtime")
    # The id first, so a record that is no downtime at all (a wrapper around a collection) says so.
    downtime_id = _required_str(api, "id")
    instrument = _sub_object(api, "instrument")
    created_at = _optional_epoch(api, "created_at")
    begin = _epoch(api, "begin")
    row: dict[str, Any] = {
        "id": downtime_id,
        "method": _optional_str(api, "method", 32),
        **{
            column: _optional_str(instrument, key, length)
            for column, (key, length) in _DOWNTIME_INSTRUMENT.items()
        },
        "severity": _optional_str(api, "severity", 16),
        "status": _required_str(api, "status"),
        "scheduled": _flag(api, "scheduled"),
        "begin": begin,
        "end": _optional_epoch(api, "end"),
        # Some webhook samples carry no created_at; the downtime began then at the latest.
        "created_at": created_at if created_at is not None else begin,
        "state_at": state_at,
        "source": source,
        "raw": dict(api),
    }
    return row
