"""Comparisons that do not mislead: whole IST days against the same number of whole days before, none for
a period that includes the unfinished today or whose previous period predates the data; the previous
line sits exactly one period later on the chart; rate axes fit the data."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd

from dashboard import charts
from dashboard.filters import FilterState, from_query, preset_days
from dashboard.format import today_ist
from dashboard.roles import Role
from tests.dashboard.conftest import AppFactory, Seeded
from tests.support.clock import TEST_NOW

TODAY = date(2026, 11, 26)


def test_last_7_and_30_days_are_whole_days_ending_yesterday() -> None:
    assert preset_days("last_7_days", TODAY) == (date(2026, 11, 19), date(2026, 11, 25))
    assert preset_days("last_30_days", TODAY) == (date(2026, 10, 27), date(2026, 11, 25))
    assert preset_days("today", TODAY) == (TODAY, TODAY)


def test_comparison_is_like_with_like_or_says_why_not() -> None:
    week = from_query({"period": "last_7_days"}, today=TODAY)
    assert week is not None
    compared = week.comparison(TODAY, first_data_day=date(2026, 1, 1))
    assert compared.previous is not None
    assert (compared.previous.first_day, compared.previous.last_day) == (
        date(2026, 11, 12),
        date(2026, 11, 18),
    )
    assert compared.caption == "Compared with the 7 whole IST days before: 12 Nov – 18 Nov 2026."

    running = FilterState(date(2026, 11, 20), TODAY, preset="custom")
    assert running.comparison(TODAY, date(2026, 1, 1)).previous is None
    assert "includes today" in running.comparison(TODAY, date(2026, 1, 1)).caption

    early = week.comparison(TODAY, first_data_day=date(2026, 11, 15))
    assert early.previous is None
    assert early.caption == (
        "No comparison: the previous period (12 Nov – 18 Nov 2026) is not fully covered by the data "
        "(payments on record start 15 Nov 2026)."
    )


def test_previous_line_is_shifted_by_the_period_length_even_when_its_first_days_are_empty() -> None:
    days = pd.date_range("2026-11-19", periods=7).date
    current = pd.DataFrame({"day": days, "success_rate": 0.84, "attempts": 100, "successes": 84})
    # The previous period (12–18 Nov) has data only from 16 Nov: its points belong over 23–25 Nov.
    previous_days = pd.date_range("2026-11-16", periods=3).date
    previous = pd.DataFrame({"day": previous_days, "success_rate": 0.82, "attempts": 50, "successes": 41})
    figure = charts.success_trend(current, previous, shift_days=7)
    shifted = [pd.Timestamp(x).date() for x in figure.data[1].x]
    assert shifted == [date(2026, 11, 23), date(2026, 11, 24), date(2026, 11, 25)]


def test_rate_axis_fits_an_83_to_85_percent_line() -> None:
    low, high = charts.rate_axis_range(pd.Series([0.83, 0.85, 0.84]))  # type: ignore[misc]
    assert 0.80 < low < 0.83 and 0.85 < high < 0.88
    figure = charts.success_trend(
        pd.DataFrame({"day": [date(2026, 11, 1)], "success_rate": [0.84], "attempts": [1], "successes": [1]}),
        pd.DataFrame(),
    )
    assert figure.layout.yaxis.range is not None and figure.layout.yaxis.range[0] > 0.5
    assert "fitted" in figure.layout.yaxis.title.text


def test_overview_does_not_compare_a_period_that_includes_today(app_for: AppFactory, seeded: Seeded) -> None:
    today = today_ist(TEST_NOW)
    at = app_for(
        Role.ADMIN, period="custom", **{"from": (today - timedelta(days=2)).isoformat()}, to=today.isoformat()
    )
    assert not at.exception
    assert any("includes today" in c.value for c in at.caption)
    assert all(m.delta in (None, "") for m in at.metric)


def test_overview_says_when_the_previous_period_predates_the_data(
    app_for: AppFactory, seeded: Seeded
) -> None:
    first = seeded.facts["first_day"]
    last = first + timedelta(days=2)  # the previous period (3 days before `first`) has no data at all
    at = app_for(Role.ADMIN, period="custom", **{"from": first.isoformat()}, to=last.isoformat())
    assert not at.exception
    assert any("not fully covered by the data" in c.value for c in at.caption)
    assert all(m.delta in (None, "") for m in at.metric)


def test_overview_compares_whole_days_with_the_days_before(app_for: AppFactory, seeded: Seeded) -> None:
    yesterday = today_ist(TEST_NOW) - timedelta(days=1)
    at = app_for(
        Role.ADMIN,
        period="custom",
        **{"from": (yesterday - timedelta(days=1)).isoformat()},
        to=yesterday.isoformat(),
    )
    assert not at.exception
    assert any("Compared with the 2 whole IST days before" in c.value for c in at.caption)
    assert any(m.delta for m in at.metric)
