"""Every chart that filters, clicked in Debian's Chromium as a user would (issue 12, "Done when"): for a
role that may see the page, a click on a chart's first mark (a bar, or a country on the world map) puts
that mark's value into the filter it drives, the table below changes with it, and nothing raises.

The charts are the ones drawn with `on_select=widgets.select_on_click(...)` (grep `on_select` in pages/);
each case names the chart's key and the key of the widget it fills. The value a mark stands for is read
from the chart's own data in the page (its first point's customdata, as `widgets.chart_picks` reads it),
so the check does not depend on the seed. A screenshot per click goes to `PAYOPS_CLICK_SCREENSHOTS`, or
to a temporary directory.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page

from analytics.rules import RULES
from dashboard.labels import bank_name, country_label, method_label, reason_text
from tests.browser.test_click_to_filter import _no_error, _open, _settle, browser, dashboard_url

pytestmark = pytest.mark.browser

__all__ = ["browser", "dashboard_url"]  # the fixtures, shared with the two-chart click test


@dataclass(frozen=True)
class ChartClick:
    role: str
    page: str  # the page's title in the navigation
    chart: str  # the chart's key
    target: str  # the key of the widget the click fills
    shows: Callable[[str], str]  # what that widget says for the clicked mark's value
    before: str | None = None  # a "Break down by" choice to make first, when the chart depends on one


def _breakdown(label: str, words: Callable[[str], str] = str) -> Callable[[str], str]:
    """The drill picker's text for a mark: the breakdown, then the value as the page words it."""
    return lambda value: f"{label}: {words(value)}"


CLICKS = [
    ChartClick(
        "finance", "Mismatches", "mismatch_rules_chart", "mismatch_rule", lambda rule: RULES[rule].title
    ),
    ChartClick(
        "manager",
        "Success rates",
        "success_bars_method",
        "success_drill",
        _breakdown("Payment mode", method_label),
    ),
    ChartClick(
        "manager",
        "Success rates",
        "success_bars_bank",
        "success_drill",
        _breakdown("Bank (netbanking)", bank_name),
        before="Bank (netbanking)",
    ),
    ChartClick(
        "manager",
        "Success rates",
        "success_bars_card_network",
        "success_drill",
        _breakdown("Card network"),
        before="Card network",
    ),
    ChartClick(
        "manager",
        "Success rates",
        "success_bars_wallet",
        "success_drill",
        _breakdown("Wallet"),
        before="Wallet",
    ),
    ChartClick(
        "manager",
        "Success rates",
        "success_bars_upi_app",
        "success_upi_app",
        lambda app: app,
        before="UPI app",
    ),
    ChartClick(
        "manager",
        "Success rates",
        "success_map",
        "success_drill",
        _breakdown("Country", country_label),
    ),
    ChartClick("manager", "Failures", "failure_bars", "failure_drill", _breakdown("Reason", reason_text)),
    ChartClick(
        "manager", "Failures", "failure_methods", "failure_drill", _breakdown("Payment mode", method_label)
    ),
]

# The raw value behind a chart's first mark: what `widgets.chart_picks` reads from the click.
_FIRST_VALUE = """key => {
    const plot = document.querySelector(`.st-key-${key} .js-plotly-plot`);
    const trace = plot && plot.data && plot.data[0];
    if (!trace) return null;
    const custom = Array.from(trace.customdata || []);
    if (custom.length) return String(Array.isArray(custom[0]) ? custom[0][0] : custom[0]);
    return String(Array.from(trace.x || [])[0]);
}"""

# Every "Prepare CSV" button on the page, key and label: a table that changes changes its CSV's.
_EXPORTS = """() => [...document.querySelectorAll('[class*="st-key-prepare_"]')].map(
    e => [...e.classList].find(c => c.startsWith('st-key-prepare_')) + ' ' + e.innerText
)"""


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    configured = os.environ.get("PAYOPS_CLICK_SCREENSHOTS")
    directory = Path(configured) if configured else tmp_path_factory.mktemp("chart-clicks")
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def _click_first_mark(page: Page, chart: str) -> None:
    """Click the middle of the chart's first bar (or first country) as a user would: with the mouse."""
    mark = page.locator(f".st-key-{chart}").locator("g.point path, path.choroplethlocation").first
    mark.wait_for(timeout=30_000)
    mark.scroll_into_view_if_needed()
    box = mark.bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)


def _widget_value(page: Page, key: str) -> str:
    """What a selectbox (a combobox input) shows as chosen."""
    return page.locator(f".st-key-{key} input[role=combobox]").input_value()


@pytest.mark.parametrize("click", CLICKS, ids=[f"{c.page}-{c.chart}" for c in CLICKS])
def test_clicking_a_chart_filters_by_the_clicked_mark(
    browser: Browser, dashboard_url: str, screenshots: Path, click: ChartClick
) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 3200})
    _open(page, dashboard_url, click.role, click.page)
    if click.before is not None:
        page.locator(".st-key-success_by").get_by_role("radio", name=click.before, exact=True).click()
        _settle(page)
    page.locator(f".st-key-{click.chart} .js-plotly-plot").wait_for(timeout=30_000)
    value = page.evaluate(_FIRST_VALUE, click.chart)
    assert value, f"{click.chart} has no mark to click"
    expected = click.shows(value)
    assert _widget_value(page, click.target) != expected  # not already chosen
    exports_before = page.evaluate(_EXPORTS)

    _click_first_mark(page, click.chart)
    _settle(page)
    for _ in range(60):  # the widget takes the value on the run the click starts
        if _widget_value(page, click.target) == expected:
            break
        page.wait_for_timeout(500)

    page.screenshot(path=str(screenshots / f"{click.role}-{click.chart}.png"), full_page=True)
    _no_error(page)
    assert page.get_by_text("Something went wrong").count() == 0
    assert _widget_value(page, click.target) == expected
    if click.chart == "mismatch_rules_chart":
        page.wait_for_url(f"**rule={value}**", timeout=30_000)  # the rule filter is in the shared link
    assert page.evaluate(_EXPORTS) != exports_before  # a table (and its CSV) changed with the filter
    page.close()
