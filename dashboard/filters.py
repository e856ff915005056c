"""The filter state every page shares (period in IST days, currency, methods, countries) and their
round trip through the URL, so a copied link reproduces the view."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta

from analytics.filters import Filters
from data.ist import today_ist

ALL = "ALL"  # the currency option meaning "every currency" (counts only; money stays per currency)
# Dates from a URL are clamped to this day and today (IST): Razorpay took its first payments in 2014, and
# a year-1 or year-9999 date would overflow the UTC bounds every query computes.
EARLIEST_DAY = date(2014, 1, 1)
_CODE = re.compile(r"^[A-Za-z0-9_]{1,32}$")  # a currency, method or country code from the URL

PRESETS: dict[str, str] = {
    "today": "Today",
    "yesterday": "Yesterday",
    "last_7_days": "Last 7 days",
    "last_30_days": "Last 30 days",
    "this_month": "This month",
    "last_month": "Last month",
    "custom": "Custom dates",
}
DEFAULT_PRESET = "last_7_days"


def preset_days(preset: str, today: date) -> tuple[date, date]:
    """The IST days (first, last, inclusive) a preset covers, counted from `today` (IST).

    "Last 7/30 days" are whole days ending yesterday, so they compare like with like against the days
    before them (today is not over yet; "Today" and "This month" show it, without a comparison)."""
    yesterday = today - timedelta(days=1)
    if preset == "today":
        return today, today
    if preset == "yesterday":
        return yesterday, yesterday
    if preset == "last_30_days":
        return today - timedelta(days=30), yesterday
    if preset == "this_month":
        return today.replace(day=1), today
    if preset == "last_month":
        last = today.replace(day=1) - timedelta(days=1)
        return last.replace(day=1), last
    return today - timedelta(days=7), yesterday


@dataclass(frozen=True)
class Comparison:
    """What a period's figures are compared with: `previous` (None when there is no fair comparison)
    and a caption saying which days are compared, or why nothing is."""

    previous: FilterState | None
    caption: str


@dataclass(frozen=True)
class FilterState:
    """What the filter bar shows and the URL carries: a preset and the values behind it. Hashable.

    It is widget state only; every query takes the one query type, `analytics.filters.Filters`, from
    `to_analytics()`, and the period arithmetic (UTC bounds, the previous period) is that type's.
    """

    first_day: date  # IST, inclusive
    last_day: date  # IST, inclusive
    currency: str = ALL
    method: str | None = None
    country: str | None = None  # ISO alpha-2, or "unknown" for payments with no derivable country
    preset: str = DEFAULT_PRESET

    @property
    def days(self) -> int:
        return (self.last_day - self.first_day).days + 1

    @property
    def currency_or_none(self) -> str | None:
        return None if self.currency == ALL else self.currency

    def to_analytics(self) -> Filters:
        """The filters every analytics query takes."""
        return Filters(
            date_from=self.first_day,
            date_to=self.last_day,
            currency=self.currency_or_none,
            method=self.method,
            country=self.country,
        )

    def previous(self) -> FilterState:
        """The period of the same length just before this one (for "vs previous period")."""
        previous = self.to_analytics().previous_period()
        assert previous.date_from is not None and previous.date_to is not None  # both days are set here
        return replace(self, first_day=previous.date_from, last_day=previous.date_to, preset="custom")

    def comparison(self, today: date, first_data_day: date | None) -> Comparison:
        """Like with like: whole IST days against the same number of whole days just before. A period
        that includes today (not over yet) is not compared, nor one whose previous period starts before
        the first payment on record (it would count days with no data as zero)."""
        previous = self.previous()
        span = f"{previous.first_day:%d %b} – {previous.last_day:%d %b %Y}"
        if self.last_day >= today:
            return Comparison(
                None,
                "No comparison: the period includes today, which is not over yet. "
                "Pick a period that ends yesterday (e.g. Last 7 days) to compare whole days.",
            )
        if first_data_day is None or previous.first_day < first_data_day:
            since = f" (payments on record start {first_data_day:%d %b %Y})" if first_data_day else ""
            return Comparison(
                None,
                f"No comparison: the previous period ({span}) is not fully covered by the data{since}.",
            )
        days = "1 whole IST day" if self.days == 1 else f"{self.days} whole IST days"
        return Comparison(previous, f"Compared with the {days} before: {span}.")

    def describe(self) -> str:
        label = PRESETS.get(self.preset, "Custom dates")
        span = f"{self.first_day:%d %b %Y} – {self.last_day:%d %b %Y} (IST)"
        return f"{label}: {span}" if self.preset != "custom" else span

    def to_query(self) -> dict[str, str | list[str]]:
        query: dict[str, str | list[str]] = {"period": self.preset}
        if self.preset == "custom":
            query["from"] = self.first_day.isoformat()
            query["to"] = self.last_day.isoformat()
        if self.currency != ALL:
            query["currency"] = self.currency
        if self.method:
            query["method"] = self.method
        if self.country:
            query["country"] = self.country
        return query


QUERY_KEYS = ("period", "from", "to", "currency", "method", "country")


def _as_list(value: str | Sequence[str] | None) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value] if value else []
    return [v for v in value if v]


def _last(value: str | Sequence[str] | None) -> str | None:
    values = _as_list(value)
    return values[-1] if values else None


def _as_date(value: str | Sequence[str] | None) -> date | None:
    values = _as_list(value)
    try:
        return date.fromisoformat(values[-1]) if values else None
    except ValueError:
        return None


def from_query(query: Mapping[str, str | Sequence[str]], today: date | None = None) -> FilterState | None:
    """Filters from URL parameters, or None when the URL carries none. Bad values fall back to defaults."""
    return restore_filters(query, today)[0]


def clamp_day(day: date, today: date) -> date:
    return min(max(day, EARLIEST_DAY), today)


def _code(value: str | None) -> str | None:
    return value if value is not None and _CODE.fullmatch(value) else None


def restore_filters(
    query: Mapping[str, str | Sequence[str]], today: date | None = None
) -> tuple[FilterState | None, list[str]]:
    """Filters from URL parameters (None when the URL carries none), and a note for each value that was
    out of range or unreadable: dates are clamped to EARLIEST_DAY..today (IST), codes must look like
    codes, and of a repeated parameter the last value counts. Every link is a stranger's input."""
    if not any(key in query for key in QUERY_KEYS):
        return None, []
    today = today or today_ist()
    notes: list[str] = []
    preset = (_as_list(query.get("period")) or [DEFAULT_PRESET])[-1]
    if preset not in PRESETS:
        notes.append("The link's period is not one this page knows; showing the default period.")
        preset = DEFAULT_PRESET
    if preset == "custom":
        first, last = _as_date(query.get("from")), _as_date(query.get("to"))
        if first is None or last is None:
            notes.append("The link's dates could not be read; showing the default period.")
            preset = DEFAULT_PRESET
            first, last = preset_days(preset, today)
        else:
            clamped = clamp_day(first, today), clamp_day(last, today)
            if clamped != (first, last):
                notes.append(
                    f"The link's dates were outside {EARLIEST_DAY:%d %b %Y} – today (IST); "
                    f"showing {clamped[0]:%d %b %Y} – {clamped[1]:%d %b %Y}."
                )
            first, last = min(clamped), max(clamped)
    else:
        first, last = preset_days(preset, today)
    currency = _code((_as_list(query.get("currency")) or [ALL])[-1])
    method = _code(_last(query.get("method")))
    country = _code(_last(query.get("country")))
    for key, value in (("currency", currency), ("method", method), ("country", country)):
        if value is None and _last(query.get(key)) is not None:
            notes.append(f"The link's {key} could not be read and is ignored.")
    currency = (currency or ALL).upper()
    if method:
        method = method.lower()
    if country and country != "unknown":
        country = country.upper()
    state = FilterState(
        first_day=first, last_day=last, currency=currency, method=method, country=country, preset=preset
    )
    return state, notes


def default_filters(today: date | None = None) -> FilterState:
    first, last = preset_days(DEFAULT_PRESET, today or today_ist())
    return FilterState(first_day=first, last_day=last)
