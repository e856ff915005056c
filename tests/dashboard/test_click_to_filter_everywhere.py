"""Every chart and table that filters does it through the one mechanism, `widgets.select_on_click` (an
`on_select` callback that sets the target widget's state before the widget is drawn), and a simulated
click on each sets its filter without StreamlitWidgetAlreadyInstantiatedError."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dashboard.roles import Role
from tests.dashboard.conftest import AppFactory, Seeded
from tests.dashboard.test_pages import period
from tests.support.clicks import click_chart, click_row

PAGES_DIR = Path(__file__).resolve().parents[2] / "pages"


def test_every_on_select_in_the_pages_is_select_on_click() -> None:
    found = 0
    for page in sorted(PAGES_DIR.glob("*.py")):
        for match in re.finditer(r"on_select\s*=\s*([\w.]+)", page.read_text()):
            found += 1
            assert match.group(1) == "widgets.select_on_click", f"{page.name}: on_select={match.group(1)}"
    assert found >= 10  # mismatches, success rates, failures, settlements, overview, alerts, risk …


@pytest.mark.parametrize(
    ("role", "page", "table", "target"),
    [
        (Role.ADMIN, "overview", "overview_currency_table", "overview_drill_currency"),
        (Role.FINANCE, "settlements", "settlements_table", "settlement_drill"),
        (Role.MANAGER, "success_rates", "success_country_table", "success_drill"),
        (Role.MANAGER, "failures", "failure_reasons_table", "failure_drill"),
    ],
)
def test_clicking_a_row_sets_its_filter(
    app_for: AppFactory, seeded: Seeded, role: Role, page: str, table: str, target: str
) -> None:
    at = app_for(role, page, **period(seeded))
    assert not at.exception, [e.value for e in at.exception]
    click_row(at, table, 0)
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state[target] is not None
    assert at.selectbox(key=target).value == at.session_state[target]
    at.run()  # and the next run (a widget change elsewhere) keeps working
    assert not at.exception, [e.value for e in at.exception]


def test_clicking_a_country_on_the_map_drills_into_it(app_for: AppFactory, seeded: Seeded) -> None:
    at = app_for(Role.MANAGER, "success_rates", **period(seeded))
    click_chart(at, "success_map", [{"location": "IN", "customdata": ["IN"], "point_index": 0}])
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key="success_drill").value == ("country", "IN")
