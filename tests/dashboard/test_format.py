"""How money, rates, times and contact details are shown."""

from __future__ import annotations

from datetime import UTC, date, datetime

from dashboard.filters import FilterState, from_query
from dashboard.format import (
    count,
    country_alpha_3,
    duration_ms,
    ist,
    ist_day_bounds,
    mask_email,
    mask_phone,
    money,
    percent,
    percent_points,
)


def test_rupees_use_indian_grouping_and_other_currencies_their_own_symbol() -> None:
    assert money(1_234_567_89, "INR") == "₹12,34,567.89"
    assert money(-50, "INR") == "-₹0.50"
    assert money(1_234_567_89, "USD") == "$1,234,567.89"
    assert money(1_500, "JPY") == "¥1,500"
    assert money(None, "INR") == "—"


def test_counts_rates_and_durations_carry_units() -> None:
    assert count(1234567) == "12,34,567"
    assert percent(0.93456) == "93.5%"
    assert percent(None) == "—"
    assert percent_points(0.0123) == "+1.2 pp"
    assert duration_ms(850) == "850 ms"
    assert duration_ms(3_200) == "3.2 s"
    assert duration_ms(16 * 60_000) == "16.0 min"


def test_times_are_shown_in_ist_with_the_zone() -> None:
    assert ist(datetime(2026, 11, 25, 18, 45, tzinfo=UTC)) == "26 Nov 2026, 00:15 IST"
    start, end = ist_day_bounds(date(2026, 11, 26), date(2026, 11, 26))
    assert start == datetime(2026, 11, 25, 18, 30, tzinfo=UTC)
    assert end == datetime(2026, 11, 26, 18, 30, tzinfo=UTC)


def test_contacts_are_masked() -> None:
    assert mask_email("asha.verma@example.com") == "as****@example.com"
    assert mask_phone("+919876543210") == "+91******3210"
    assert mask_email(None) is None


def test_country_codes_for_the_map() -> None:
    assert country_alpha_3("IN") == "IND"
    assert country_alpha_3("us") == "USA"
    assert country_alpha_3("unknown") is None


def test_filters_round_trip_through_the_url() -> None:
    filters = FilterState(
        date(2026, 11, 1), date(2026, 11, 7), currency="INR", method="upi", country="IN", preset="custom"
    )
    assert from_query(filters.to_query(), today=date(2026, 11, 26)) == filters
    assert filters.previous() == FilterState(
        date(2026, 10, 25), date(2026, 10, 31), currency="INR", method="upi", country="IN", preset="custom"
    )
    relative = from_query({"period": "last_7_days"}, today=date(2026, 11, 26))
    assert relative is not None
    assert (relative.first_day, relative.last_day) == (date(2026, 11, 19), date(2026, 11, 25))  # whole days
    broken = from_query({"period": "custom", "from": "2026-13-01", "to": "x"}, today=date(2026, 11, 26))
    assert broken is not None
    assert broken.preset == "last_7_days"
    assert from_query({}, today=date(2026, 11, 26)) is None


def test_plain_makes_any_value_markdown_inert() -> None:
    from dashboard.format import plain

    assert plain("![b](http://x/beacon.png)") == r"\!\[b\]\(http\:\/\/x\/beacon\.png\)"
    assert plain(":red[alarm] **bold** `code` <img src=x>") == (
        r"\:red\[alarm\] \*\*bold\*\* \`code\` \<img src\=x\>"
    )
    assert plain("line one\nline two") == "line one line two"
    assert plain(None) == "—"
    assert plain("asha verma") == "asha verma"
