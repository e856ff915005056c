"""India Standard Time, the calendar every payops day, report and chart is counted in.

The lowest layer, so data/, sync/, analytics/, dashboard/ and sandbox/ all share one definition.
IST has been UTC+05:30 without daylight saving since 1945, so the fixed offset is exact for every
date Razorpay can report; SQL that has no time-zone support adds IST_OFFSET_MINUTES instead.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

__all__ = [
    "IST",
    "IST_OFFSET_MINUTES",
    "IST_OFFSET_SECONDS",
    "ist_day_bounds",
    "ist_day_of",
    "ist_midnight",
    "to_ist",
    "today_ist",
]

IST = ZoneInfo("Asia/Kolkata")
IST_OFFSET_SECONDS = 19_800  # 5 h 30 min east of UTC
IST_OFFSET_MINUTES = IST_OFFSET_SECONDS // 60


def to_ist(moment: datetime) -> datetime:
    """An aware datetime in IST; a naive one is refused (payops keeps aware UTC only)."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: payops keeps aware UTC only")
    return moment.astimezone(IST)


def ist_midnight(day: date) -> datetime:
    """The aware-UTC instant at which the IST calendar day `day` begins (18:30 UTC the day before)."""
    return datetime.combine(day, time(0, 0), tzinfo=IST).astimezone(UTC)


def ist_day_of(moment: datetime) -> date:
    """The IST calendar day an aware instant falls on."""
    return moment.astimezone(IST).date()


def today_ist(now: datetime | None = None) -> date:
    """Today's IST date at `now` (the wall clock when None)."""
    return ist_day_of(now or datetime.now(UTC))


def ist_day_bounds(first: date, last: date) -> tuple[datetime, datetime]:
    """The aware-UTC half-open interval [start, end) covering IST days first..last inclusive."""
    return ist_midnight(first), ist_midnight(last + timedelta(days=1))
