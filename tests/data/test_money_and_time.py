"""data.money (minor units via babel) and data.ist (IST calendar days): the shared lowest layer."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from data import money
from data.ist import IST, ist_day_bounds, ist_day_of, ist_midnight, to_ist, today_ist


def test_minor_units_come_from_babel() -> None:
    assert [money.minor_digits(code) for code in ("INR", "usd", "JPY", "KWD", "CLP")] == [2, 2, 0, 3, 0]
    assert money.to_major(123_456, "INR") == Decimal("1234.56")
    assert money.to_major(1_234, "KWD") == Decimal("1.234")


def test_plain_and_display_texts() -> None:
    assert money.plain(123_456, "INR") == "INR 1234.56"
    assert money.plain(-5, "INR") == "INR -0.05"
    assert money.plain(1_234, "KWD") == "KWD 1.234"
    assert money.plain(500, "JPY") == "JPY 500"
    assert money.plain(7, None) == "0.07"
    assert money.plain(None, "INR") == "—"
    assert money.display(123_456_750, "INR") == "₹12,34,567.50"
    assert money.display(123_456_750, "usd") == "$1,234,567.50"
    assert money.display(None, "INR") == "—"


def test_ist_days() -> None:
    assert ist_midnight(date(2026, 11, 3)) == datetime(2026, 11, 2, 18, 30, tzinfo=UTC)
    assert ist_day_of(datetime(2026, 11, 2, 18, 29, tzinfo=UTC)) == date(2026, 11, 2)
    assert ist_day_of(datetime(2026, 11, 2, 18, 30, tzinfo=UTC)) == date(2026, 11, 3)
    assert today_ist(datetime(2026, 11, 30, 18, 35, tzinfo=UTC)) == date(2026, 12, 1)
    assert ist_day_bounds(date(2026, 11, 3), date(2026, 11, 4)) == (
        datetime(2026, 11, 2, 18, 30, tzinfo=UTC),
        datetime(2026, 11, 4, 18, 30, tzinfo=UTC),
    )
    assert to_ist(datetime(2026, 11, 2, 18, 30, tzinfo=UTC)).isoformat() == "2026-11-03T00:00:00+05:30"
    assert IST.key == "Asia/Kolkata"
    with pytest.raises(ValueError, match="naive"):
        to_ist(datetime(2026, 11, 3))  # noqa: DTZ001 - the naive datetime is the point
