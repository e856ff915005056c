"""Query filters shared by every analytics query: IST calendar days, currency, method, country."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any

from data.ist import IST, ist_day_of, ist_midnight, today_ist

__all__ = ["IST", "UNKNOWN", "Filters", "ist_day_of", "ist_midnight", "last_n_days"]

UNKNOWN = "unknown"


@dataclass(frozen=True)
class Filters:
    """Filters for every query. Dates are IST calendar days, both inclusive; None means unbounded."""

    date_from: date | None = None
    date_to: date | None = None
    currency: str | None = None
    method: str | None = None
    country: str | None = None  # ISO alpha-2; "unknown" selects payments without a derived country

    def __post_init__(self) -> None:
        if self.date_from and self.date_to and self.date_from > self.date_to:
            raise ValueError(f"date_from {self.date_from} is after date_to {self.date_to}")
        if self.currency is not None and (len(self.currency) != 3 or not self.currency.isalpha()):
            raise ValueError(f"currency must be a 3-letter code, not {self.currency!r}")

    def utc_range(self) -> tuple[datetime | None, datetime | None]:
        """[start, end) in aware UTC: IST midnight of date_from to IST midnight after date_to."""
        start = ist_midnight(self.date_from) if self.date_from else None
        end = ist_midnight(self.date_to + timedelta(days=1)) if self.date_to else None
        return start, end

    def previous_period(self) -> Filters:
        """The period of equal length immediately before this one, other filters kept."""
        if self.date_from is None or self.date_to is None:
            raise ValueError("comparing with the previous period needs both date_from and date_to")
        days = (self.date_to - self.date_from).days + 1
        return replace(
            self,
            date_from=self.date_from - timedelta(days=days),
            date_to=self.date_from - timedelta(days=1),
        )

    def describe(self) -> dict[str, Any]:
        return {
            "from": self.date_from.isoformat() if self.date_from else None,
            "to": self.date_to.isoformat() if self.date_to else None,
            "currency": self.currency,
            "method": self.method,
            "country": self.country,
        }


def last_n_days(n: int, *, now: datetime | None = None, **filters: Any) -> Filters:
    """Today (IST) and the n-1 days before it."""
    if n < 1:
        raise ValueError("n must be at least 1")
    today = today_ist(now)
    return Filters(date_from=today - timedelta(days=n - 1), date_to=today, **filters)
