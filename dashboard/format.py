"""How numbers, money, times and personal data look on every page: one place, so every page agrees.

₹ uses Indian digit grouping (babel's en_IN); other currencies keep their own symbol and Western
grouping. Times are shown in IST with the zone written out.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import pycountry
from babel.numbers import format_compact_currency, format_compact_decimal, format_decimal

from data import money as data_money
from data.durations import duration_text

# Re-exported: pages and widgets take every display helper from here.
from data.ist import IST as IST
from data.ist import ist_day_bounds as ist_day_bounds
from data.ist import to_ist
from data.ist import today_ist as today_ist

# Money is data.money's (babel): `₹12,34,567.50` for INR, `$1,234,567.50` for USD, `—` for no amount.
money = data_money.display
to_major = data_money.to_major
minor_digits = data_money.minor_digits


# How wide a metric card's value is, in ems of its font, per character (Source Sans at the card's 2.25 rem):
# digits and most letters about half an em, separators a quarter. Estimates, rounded up.
_EM = {**dict.fromkeys("0123456789", 0.5), **dict.fromkeys(",.: ", 0.25), **dict.fromkeys("%mMW", 0.85)}
_UPPER_EM, _OTHER_EM = 0.62, 0.55
# The ems a card's value has before it is cut with "…", by cards in the row: the main column at 1280 px
# with the sidebar open (820 px), less the gaps between cards and each card's padding, at 36 px an em.
CARD_EMS = {1: 21.0, 2: 9.8, 3: 6.2, 4: 4.3}


def text_ems(text: str) -> float:
    """Estimated width of `text` as a card value, in ems."""
    return sum(_EM.get(c, _UPPER_EM if c.isupper() else _OTHER_EM) for c in text)


def fits_card(text: str, cards_in_row: int) -> bool:
    """True when `text` shows whole as a metric card's value with `cards_in_row` cards side by side."""
    return text_ems(text) <= CARD_EMS.get(cards_in_row, CARD_EMS[max(CARD_EMS)])


def compact_money(minor: int, currency: str, fraction_digits: int = 2) -> str:
    """Money short enough for a card or an axis: ₹ in lakh/crore (`₹1.61 Cr`, `₹12.35 L`, `₹47.47K`),
    other currencies with babel's compact form (`$1.2M`, `AED12.26K`). Small amounts stay exact."""
    major = to_major(minor, currency)
    if currency == "INR":
        sign = "−" if major < 0 else ""
        size = abs(major)
        if size >= 10_000_000:
            return f"{sign}₹{size / 10_000_000:,.{fraction_digits}f} Cr"
        if size >= 100_000:
            return f"{sign}₹{size / 100_000:,.{fraction_digits}f} L"
    if abs(major) < 1_000:
        return money(minor, currency)
    locale = "en_IN" if currency == "INR" else "en_US"
    return str(format_compact_currency(major, currency, locale=locale, fraction_digits=fraction_digits))


def money_forms(minor: int, currency: str) -> tuple[str, ...]:
    """The exact figure, then shorter and shorter compact forms of it (for a card that must fit)."""
    forms = [money(minor, currency), *(compact_money(minor, currency, digits) for digits in (2, 1, 0))]
    return tuple(dict.fromkeys(forms))


def count_forms(value: int) -> tuple[str, ...]:
    """A count with Indian grouping, then compact forms (`12.35L`, `1.2Cr`) for a card that must fit."""
    forms = [count(value)]
    if abs(value) >= 1_000:
        forms += [str(format_compact_decimal(value, locale="en_IN", fraction_digits=d)) for d in (2, 1, 0)]
    return tuple(dict.fromkeys(forms))


def count(value: int | None) -> str:
    """A count with Indian grouping (12,34,567), the grouping the users read every day."""
    if value is None:
        return "—"
    return str(format_decimal(int(value), locale="en_IN"))


def percent(rate: float | None, digits: int = 1) -> str:
    """A 0..1 rate as `93.4%`; `—` when there is no denominator."""
    if rate is None:
        return "—"
    return f"{rate * 100:.{digits}f}%"


def percent_points(delta: float | None, digits: int = 1) -> str:
    """A change between two rates, in percentage points: `+1.2 pp`."""
    if delta is None:
        return "—"
    return f"{delta * 100:+.{digits}f} pp"


# A lag or duration: `850 ms`, `3.2 s`, `16.0 min`, `2.5 h` (data.durations, shared with analytics).
duration_ms = duration_text


def ist(moment: datetime | None) -> str:
    """An aware UTC datetime as `26 Nov 2026, 07:03 IST`."""
    if moment is None:
        return "—"
    return to_ist(moment).strftime("%d %b %Y, %H:%M IST")


def mask_email(email: str | None) -> str | None:
    """`ra****@example.com`: enough to recognise, not enough to contact."""
    if not email:
        return email
    local, _, domain = email.partition("@")
    shown = local[:2] if len(local) > 2 else local[:1]
    return f"{shown}****@{domain}" if domain else f"{shown}****"


def mask_phone(phone: str | None) -> str | None:
    """`+91******3210`: the country prefix and the last four digits only."""
    if not phone:
        return phone
    digits = phone.strip()
    if len(digits) <= 4:
        return "*" * len(digits)
    prefix = digits[:3] if digits.startswith("+") else ""
    return f"{prefix}{'*' * (len(digits) - len(prefix) - 4)}{digits[-4:]}"


def country_name(alpha_2: str | None) -> str:
    if not alpha_2:
        return "Unknown"
    country = pycountry.countries.get(alpha_2=alpha_2.upper())
    return str(country.name) if country is not None else alpha_2.upper()


def country_alpha_3(alpha_2: str | None) -> str | None:
    """ISO-3 code for the world map (plotly's choropleth locations); None when unknown."""
    if not alpha_2:
        return None
    country = pycountry.countries.get(alpha_2=alpha_2.upper())
    return str(country.alpha_3) if country is not None else None


# Evidence keys that hold money in minor units, and keys that hold ISO timestamps (see analytics/rules.py).
_EVIDENCE_MONEY = {"amount", "fee", "tax", "credits", "debits", "difference", "amount_paid", "order_amount"}
_EVIDENCE_TIMES = {"due_before"}


def evidence_for_display(evidence: Any, currency: str | None = None) -> Any:
    """A mismatch's evidence as a person reads it: money formatted in its currency (not raw paise),
    timestamps in IST with the zone written, human key names. Exports keep the raw evidence."""
    if isinstance(evidence, list):
        return [evidence_for_display(item, currency) for item in evidence]
    if not isinstance(evidence, dict):
        return evidence
    code = str(evidence.get("currency") or currency or "") or None
    shown: dict[str, Any] = {}
    for key, value in evidence.items():
        label = str(key).replace("_", " ")
        if key in _EVIDENCE_MONEY and isinstance(value, int) and code:
            shown[label] = money(value, code)
        elif (str(key).endswith("_at") or key in _EVIDENCE_TIMES) and isinstance(value, str):
            try:
                shown[label] = ist(datetime.fromisoformat(value))
            except ValueError:
                shown[label] = value
        elif value is None:
            shown[label] = "—"
        else:
            shown[label] = evidence_for_display(value, code)
    return shown


RAZORPAY_PAYMENT_URL = "https://dashboard.razorpay.com/app/payments/{payment_id}"


def razorpay_payment_url(payment_id: str) -> str:
    """The payment in Razorpay's own dashboard."""
    return RAZORPAY_PAYMENT_URL.format(payment_id=payment_id)


# Every ASCII punctuation character may be backslash-escaped in CommonMark; escaping them all means a
# value can open no link, image, emphasis, code span, HTML tag or Streamlit directive (`:red[…]`,
# `:material/…:`), whatever it holds.
_MARKDOWN_SPECIAL = re.compile(r"([!-/:-@\[-`{-~])")


def plain(value: object) -> str:
    """A data value (an email, a reason, an id) made safe to put inside st.markdown/caption/info text:
    rendered exactly as written, never as markdown. `None` → `—`; line breaks become spaces."""
    if value is None:
        return "—"
    text = " ".join(str(value).splitlines())
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)
