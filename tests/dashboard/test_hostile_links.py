"""Crafted links never crash a page: out-of-range dates are clamped to 2014-01-01..today (IST) with a
note, unreadable values are ignored, repeated parameters and huge values are cut down to size."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from dashboard.filters import EARLIEST_DAY, restore_filters
from dashboard.roles import PAGES, Role
from tests.dashboard.conftest import AppFactory

TODAY = date(2026, 11, 30)

HOSTILE: dict[str, dict[str, Any]] = {
    "year_1_to_9999": {
        "period": "custom",
        "from": "0001-01-01",
        "to": "9999-12-31",
        "min_age": "9" * 40,
        "alert": "9" * 40,
    },
    "garbage_and_huge_lists": {
        "period": ["<script>alert(1)</script>"] * 300 + ["custom"],
        "from": "yesterday",
        "to": "2026-13-45",
        "method": ["upi' OR 1=1 --"] * 500,
        "currency": "![b](http://127.0.0.1:1/beacon.png)",
        "country": "x" * 5000,
        "q": "p" * 100_000,
        "rule": "no_such_rule",
        "by": "../../etc/passwd",
        "status": "\x00",
        "kind": ["card_testing' OR 1=1"] * 50 + ["<img src=x onerror=alert(1)>"],
    },
}


@pytest.mark.parametrize("variant", list(HOSTILE))
@pytest.mark.parametrize("page", list(PAGES))
def test_every_page_renders_a_crafted_link_with_a_note(app_for: AppFactory, page: str, variant: str) -> None:
    at = app_for(Role.ADMIN, page, **HOSTILE[variant])
    assert not at.exception, [e.value for e in at.exception]
    assert [t.value for t in at.title][:1] == [PAGES[page].title]
    assert not [e.value for e in at.error if "Something went wrong" in e.value]
    notes = [w.value for w in at.sidebar.warning]
    if variant == "year_1_to_9999" and any(box.label == "Period" for box in at.sidebar.selectbox):
        assert any("outside 01 Jan 2014 – today" in note for note in notes), notes


def test_dates_are_clamped_to_the_sane_range() -> None:
    state, notes = restore_filters({"period": "custom", "from": "0001-01-01", "to": "9999-12-31"}, TODAY)
    assert state is not None
    assert (state.first_day, state.last_day) == (EARLIEST_DAY, TODAY)
    assert notes == [
        "The link's dates were outside 01 Jan 2014 – today (IST); showing 01 Jan 2014 – 30 Nov 2026."
    ]
    state, _ = restore_filters({"period": "custom", "from": "2026-11-20", "to": "2099-01-01"}, TODAY)
    assert state is not None and (state.first_day, state.last_day) == (date(2026, 11, 20), TODAY)
    state, _ = restore_filters({"period": "custom", "from": "2026-11-29", "to": "2026-11-01"}, TODAY)
    assert state is not None and (state.first_day, state.last_day) == (date(2026, 11, 1), date(2026, 11, 29))


def test_unreadable_values_are_ignored_with_a_note() -> None:
    state, notes = restore_filters(
        {"period": ["bogus"] * 1000, "method": ["x y"] * 1000, "currency": "<b>", "country": "IN"}, TODAY
    )
    assert state is not None
    assert (state.preset, state.method, state.currency, state.country) == ("last_7_days", None, "ALL", "IN")
    assert notes == [
        "The link's period is not one this page knows; showing the default period.",
        "The link's currency could not be read and is ignored.",
        "The link's method could not be read and is ignored.",
    ]
