"""Human labels: bank names for codes, UPI handles grouped by the app that issues them (the handle kept as
the drill-down level), reasons in words, "1 row"/"2 rows"."""

from __future__ import annotations

from analytics import success
from dashboard import charts
from dashboard.labels import bank_name, reason_text, rows, upi_app
from dashboard.roles import Role
from tests.dashboard.conftest import AppFactory, Seeded
from tests.dashboard.test_pages import analytics_filters, period
from tests.support.clicks import click_chart


def test_codes_read_as_names() -> None:
    assert bank_name("UTIB") == "Axis Bank (UTIB)"
    assert bank_name("ZZZZ") == "ZZZZ" and bank_name(None) == "—"
    assert [upi_app(h) for h in ("okaxis", "okhdfcbank", "okicici", "oksbi")] == ["Google Pay"] * 4
    assert [upi_app(h) for h in ("ybl", "ibl", "axl")] == ["PhonePe"] * 3
    assert upi_app("paytm") == "Paytm" and upi_app("somebank") == "Other / bank app"
    assert reason_text("payment_timed_out") == "Payment timed out"
    assert (rows(1), rows(2), rows(123456)) == ("1 row", "2 rows", "1,23,456 rows")


def test_bank_bars_are_labelled_with_bank_names() -> None:
    import pandas as pd

    frame = pd.DataFrame({"bank": ["UTIB"], "attempts": [10], "successes": [8], "success_rate": [0.8]})
    figure = charts.rate_bars(frame, "bank", "By bank")
    assert list(figure.data[0].x) == ["Axis Bank (UTIB)"]
    assert figure.data[0].customdata[0][0] == "UTIB"  # clicks still carry the code


def test_upi_bars_are_apps_and_a_click_lists_that_apps_handles(app_for: AppFactory, seeded: Seeded) -> None:
    at = app_for(Role.MANAGER, "success_rates", **period(seeded))
    at.segmented_control(key="success_by").set_value("upi_app").run()
    assert not at.exception
    handles = success.success_rates(seeded.engine, "upi_app", analytics_filters(seeded))
    gpay_attempts = int(handles[handles["upi_app"] == "okhdfcbank"]["attempts"].sum())
    click_chart(at, "success_bars_upi_app", [{"x": "Google Pay", "customdata": ["Google Pay", 1, 1]}])
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key="success_upi_app").value == "Google Pay"
    table = next(d.value for d in at.dataframe if "upi_app_name" in d.value.columns)
    assert set(table["upi_app"]) == {"okhdfcbank"}
    assert int(table["attempts"].sum()) == gpay_attempts
