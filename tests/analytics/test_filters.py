"""The one translation of Filters into SQL conditions, compiled and checked clause by clause."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import Column, Date, DateTime, MetaData, String, Table, select

from analytics.filters import Filters, conditions

_T = Table(
    "t",
    MetaData(),
    Column("at", DateTime(timezone=True)),
    Column("day", Date),
    Column("currency", String),
    Column("method", String),
    Column("country", String),
)


def _sql(filters: Filters | None, **columns: object) -> tuple[list[str], dict[str, object]]:
    """The conditions of the WHERE clause, and the values bound to them."""
    compiled = select(_T.c.at).where(*conditions(filters, **columns)).compile()
    where = str(compiled).partition("WHERE ")[2]
    return (where.split(" AND ") if where else []), dict(compiled.params)


def test_period_is_ist_days_as_a_half_open_utc_range() -> None:
    sql, params = _sql(Filters(date_from=date(2026, 11, 3), date_to=date(2026, 11, 4)), at=_T.c.at)
    assert sql == ["t.at >= :at_1", "t.at < :at_2"]
    assert params == {
        "at_1": datetime(2026, 11, 2, 18, 30, tzinfo=UTC),
        "at_2": datetime(2026, 11, 4, 18, 30, tzinfo=UTC),
    }


def test_day_columns_are_inclusive_and_unbounded_ends_are_left_out() -> None:
    sql, params = _sql(Filters(date_to=date(2026, 11, 4)), day=_T.c.day)
    assert (sql, params) == (["t.day <= :day_1"], {"day_1": date(2026, 11, 4)})


def test_values_are_bound_and_normalised_and_only_given_columns_are_filtered() -> None:
    filters = Filters(currency="usd", method="UPI", country="in")
    sql, params = _sql(filters, currency=_T.c.currency, method=_T.c.method, country=_T.c.country)
    assert sql == ["t.currency = :currency_1", "t.method = :method_1", "t.country = :country_1"]
    assert params == {"currency_1": "USD", "method_1": "upi", "country_1": "IN"}
    assert _sql(filters, currency=_T.c.currency)[0] == ["t.currency = :currency_1"]
    assert conditions(None, at=_T.c.at, currency=_T.c.currency) == []


def test_unknown_country_matches_missing_values() -> None:
    sql, params = _sql(Filters(country="Unknown"), country=_T.c.country)
    assert sql == ["coalesce(t.country, :coalesce_1) IN (__[POSTCOMPILE_coalesce_2])"]
    assert params == {"coalesce_1": "", "coalesce_2": ["", "unknown"]}
