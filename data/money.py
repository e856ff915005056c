"""Money: integer minor units beside an ISO currency code, turned into major units and text.

The size of each currency's minor unit comes from babel (CLDR), never from a table of our own:
paise for INR (2 places), none for JPY, three for KWD. Arithmetic stays integer; Decimal is only
made for display.
"""

from __future__ import annotations

from decimal import Decimal

from babel.numbers import format_currency, get_currency_precision

__all__ = ["CONVERSION_RATE_PLACES", "conversion_rate", "display", "minor_digits", "plain", "to_major"]

_DEFAULT_DIGITS = 2  # an amount without a currency is shown the way most currencies are


def minor_digits(currency: str | None) -> int:
    """How many decimal places the currency's minor unit has (2 for INR paise, 0 for JPY)."""
    if not currency:
        return _DEFAULT_DIGITS
    return int(get_currency_precision(currency.upper()))


def to_major(minor: int, currency: str) -> Decimal:
    """Minor units (an exact int) as a Decimal in major units, for display only."""
    return Decimal(int(minor)).scaleb(-minor_digits(currency))


# Decimal places kept of a conversion rate (payments.conversion_rate is NUMERIC(20, 10)).
CONVERSION_RATE_PLACES = 10


def conversion_rate(
    amount: int, currency: str, base_amount: int | None, base_currency: str | None
) -> Decimal | None:
    """Base-currency units per one unit of the payment's currency, as Razorpay's own figures imply
    (`base_amount` in `base_currency` for `amount` in `currency`: 7129 INR paise for 100 USD cents is
    71.29). None when there is no conversion: no base amount, the same currency, or a zero amount."""
    if base_amount is None or not base_currency or base_currency == currency or amount <= 0:
        return None
    rate = to_major(base_amount, base_currency) / to_major(amount, currency)
    return rate.quantize(Decimal(1).scaleb(-CONVERSION_RATE_PLACES))


def plain(minor: int | None, currency: str | None) -> str:
    """`INR 1234.50`: the code and the plain number, integer arithmetic only (for explanations and
    logs, where a symbol or grouping would be ambiguous); `—` for no amount."""
    if minor is None:
        return "—"
    digits = minor_digits(currency)
    sign = "-" if minor < 0 else ""
    whole, fraction = divmod(abs(minor), 10**digits)
    text = f"{whole}.{fraction:0{digits}d}" if digits else str(whole)
    return f"{currency or ''} {sign}{text}".strip()


def display(minor: int | None, currency: str) -> str:
    """`₹12,34,567.50` for INR (Indian digit grouping, babel's en_IN); `$1,234,567.50` for USD;
    `—` for no amount."""
    if minor is None:
        return "—"
    currency = currency.upper()
    locale = "en_IN" if currency == "INR" else "en"
    return str(format_currency(to_major(minor, currency), currency, locale=locale))
