"""Click-to-filter: a click on a chart's bar or a table's row sets the filter it stands for, through the
one `on_select` callback mechanism (tests/support/clicks.py sends the selection a browser sends)."""

from __future__ import annotations

from analytics import mismatches
from analytics.rules import RULES
from dashboard.roles import Role
from tests.dashboard.conftest import AppFactory, Seeded
from tests.dashboard.test_pages import period
from tests.support.clicks import click_chart, click_row


def test_clicking_a_rule_bar_on_mismatches_filters_by_that_rule(app_for: AppFactory, seeded: Seeded) -> None:
    at = app_for(Role.FINANCE, "mismatches")
    unresolved = mismatches.list_mismatches(seeded.engine)
    rule = str(unresolved[unresolved["status"] != "resolved"]["rule"].iloc[0])

    click_chart(at, "mismatch_rules_chart", [{"x": rule, "y": 1, "customdata": [rule], "point_index": 0}])

    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key="mismatch_rule").value == rule
    assert at.query_params["rule"] in (rule, [rule])
    shown = at.dataframe(key="mismatch_table").value
    assert set(shown["rule_title"]) == {RULES[rule].title}  # people read the rule's name, not its code
    # Choosing by hand afterwards still works: the click does not pin the filter.
    at.selectbox(key="mismatch_rule").set_value(None).run()
    assert not at.exception
    assert at.selectbox(key="mismatch_rule").value is None


def test_clicking_a_mode_bar_on_success_rates_drills_into_it(app_for: AppFactory, seeded: Seeded) -> None:
    at = app_for(Role.MANAGER, "success_rates", **period(seeded))

    click_chart(at, "success_bars_method", [{"x": "upi", "y": 0.8, "customdata": ["upi", 10, 8]}])

    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key="success_drill").value == ("method", "upi")
    drilled = at.dataframe(key="table_success-payments-method-upi").value
    assert set(drilled["method"]) == {"upi"}


def test_clicking_a_failure_reason_bar_and_a_mismatch_row(app_for: AppFactory, seeded: Seeded) -> None:
    at = app_for(Role.ADMIN, "failures", **period(seeded))
    click_chart(
        at,
        "failure_bars",
        [{"y": "insufficient_funds", "x": 3, "customdata": ["insufficient_funds", 0.3]}],
    )
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key="failure_drill").value == ("error_reason", "insufficient_funds")

    at.switch_page("../pages/mismatches.py").run()
    first_id = int(at.dataframe(key="mismatch_table").value["id"].iloc[0])
    click_row(at, "mismatch_table", 0)
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key="mismatch_pick").value == first_id
