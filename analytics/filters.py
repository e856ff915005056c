"""Query filters shared by every analytics query (IST calendar days, currency, method, country), and
the one translation of a Filters into SQL conditions that every query uses.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func

from data.ist import ist_midnight, today_ist

__all__ = [
    "UNKNOWN",
    "Filters",
    "between",
    "conditions",
    "last_n_days",
    "shows_as",
]

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


def between(column: Any, start: datetime | None, end: datetime | None) -> list[ColumnElement[bool]]:
    """`start <= column < end`, each side left out when None."""
    bounds: list[ColumnElement[bool]] = []
    if start is not None:
        bounds.append(column >= start)
    if end is not None:
        bounds.append(column < end)
    return bounds


def shows_as(column: ColumnElement[Any], value: str, *, breakdown: bool = False) -> ColumnElement[bool]:
    """`column` holds the value a rate row shows as `value`, counted the way the rollups count it.

    Rollup key columns store a missing value as "" and rates show it (and a stored "unknown") as
    "unknown"; breakdown rows leave payments without the attribute (NULL) out altogether, so their
    "unknown" can only be a stored "" or "unknown".
    """
    if value != UNKNOWN:
        return column == value
    if breakdown:
        return column.in_(("", UNKNOWN))
    return func.coalesce(column, "").in_(("", UNKNOWN))


def conditions(
    filters: Filters | None,
    *,
    at: Any = None,
    day: Any = None,
    currency: Any = None,
    method: Any = None,
    country: Any = None,
) -> list[ColumnElement[bool]]:
    """The WHERE conditions `filters` puts on a query, for the columns it names.

    `at` is an aware-UTC timestamp column (the period is [IST midnight of date_from, IST midnight after
    date_to)); `day` an IST calendar-date column (both ends inclusive); `currency`, `method`, `country`
    the columns those filters apply to. A filter whose column is not given is not applied: a query
    passes only the columns it can be filtered on. No filters, no conditions.
    """
    if filters is None:
        return []
    where: list[ColumnElement[bool]] = []
    if at is not None:
        where += between(at, *filters.utc_range())
    if day is not None:
        if filters.date_from is not None:
            where.append(day >= filters.date_from)
        if filters.date_to is not None:
            where.append(day <= filters.date_to)
    if currency is not None and filters.currency:
        where.append(currency == filters.currency.upper())
    if method is not None and filters.method:
        where.append(shows_as(method, filters.method.lower()))
    if country is not None and filters.country:
        code = UNKNOWN if filters.country.lower() == UNKNOWN else filters.country.upper()
        where.append(shows_as(country, code))
    return where
