"""Every page for every role that may see it, on a seeded database: no exception, and the figures shown
are analytics' own figures for the same filters."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from analytics import mismatches, payment_story, settlements, success, webhook_health
from analytics.filters import Filters as AnalyticsFilters
from dashboard.format import count, money, percent, plain
from dashboard.labels import bank_name, reason_text, upi_app
from dashboard.roles import PAGES, ROLE_PAGES, Role
from dashboard.sync_runner import SyncLauncher
from data.models import AuditLog, SyncLease
from data.sync_lease import acquire_leases
from sync.entities import ENTITY_NAMES
from tests.dashboard.conftest import AppFactory, Seeded
from tests.support.clock import TEST_NOW

ROLE_AND_PAGE = [(role, page) for role in Role for page in ROLE_PAGES[role]]


def period(seeded: Seeded) -> dict[str, str]:
    return {
        "period": "custom",
        "from": seeded.facts["first_day"].isoformat(),
        "to": seeded.facts["last_day"].isoformat(),
    }


def analytics_filters(seeded: Seeded, **extra: Any) -> AnalyticsFilters:
    return AnalyticsFilters(date_from=seeded.facts["first_day"], date_to=seeded.facts["last_day"], **extra)


def table(at: AppTest, *columns: str) -> pd.DataFrame:
    """The first table showing all these columns (display-only tables carry no key in AppTest)."""
    for frame in at.dataframe:
        if set(columns) <= set(frame.value.columns):
            return frame.value
    raise AssertionError(f"no table with columns {columns}")


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


@pytest.mark.parametrize(("role", "page"), ROLE_AND_PAGE, ids=[f"{r.value}-{p}" for r, p in ROLE_AND_PAGE])
def test_every_allowed_page_renders_without_error(
    app_for: AppFactory, seeded: Seeded, role: Role, page: str
) -> None:
    at = app_for(role, page, **period(seeded))
    assert not at.exception, [e.value for e in at.exception]
    assert [t.value for t in at.title] == [PAGES[page].title]
    assert not at.error, [e.value for e in at.error]


def test_overview_shows_analytics_kpis(app_for: AppFactory, seeded: Seeded) -> None:
    at = app_for(Role.FINANCE, "overview", **period(seeded))
    expected = success.kpis(seeded.engine, analytics_filters(seeded), compare_previous=True)
    shown = metrics(at)
    assert expected.attempts == seeded.facts["payments"]
    assert shown["Payment attempts"] == count(expected.attempts)
    assert shown["Success rate"] == percent(expected.success_rate)
    assert shown["Successful payments"] == count(expected.successes)
    assert shown["Failed payments"] == count(expected.failures)
    per_currency = {row["currency"]: row for row in expected.per_currency.to_dict("records")}
    inr = per_currency["INR"]
    assert shown["Successful value (INR)"] == money(int(inr["success_amount"]), "INR")
    assert shown["Successful value (INR)"].startswith("₹")
    usd = per_currency["USD"]
    assert shown["Successful value (USD)"] == money(int(usd["success_amount"]), "USD")


def test_overview_filter_from_url_and_back_into_url(app_for: AppFactory, seeded: Seeded) -> None:
    at = app_for(Role.ADMIN, "overview", **period(seeded), method="upi")
    expected = success.kpis(seeded.engine, analytics_filters(seeded, method="upi"))
    assert metrics(at)["Payment attempts"] == count(expected.attempts)
    assert expected.attempts < seeded.facts["payments"]

    at.selectbox(key="filter_method").set_value("card").run()
    card = success.kpis(seeded.engine, analytics_filters(seeded, method="card"))
    assert metrics(at)["Payment attempts"] == count(card.attempts)
    assert at.query_params["method"] == "card"
    assert at.query_params["from"] == seeded.facts["first_day"].isoformat()


def test_overview_drill_down_lists_the_currencys_payments(app_for: AppFactory, seeded: Seeded) -> None:
    at = app_for(Role.FINANCE, "overview", **period(seeded))
    at.selectbox(key="overview_drill_currency").set_value("USD").run()
    expected = success.payments_drilldown(seeded.engine, analytics_filters(seeded, currency="USD"), limit=200)
    drilled = at.dataframe(key="table_overview-payments-USD").value
    assert list(drilled["id"]) == list(expected["id"])
    assert all(shown.startswith("$") for shown in drilled["amount_shown"])

    # More INR payments than the table holds: it says so, and its CSV has every one.
    at.selectbox(key="overview_drill_currency").set_value("INR").run()
    inr = len(
        success.payments_drilldown(seeded.engine, analytics_filters(seeded, currency="INR"), limit=1000)
    )
    assert inr > 200 and len(at.dataframe(key="table_overview-payments-INR").value) == 200
    assert f"Showing 200 of {count(inr)} payments; the CSV has all {count(inr)}." in [
        c.value for c in at.caption
    ]


def test_success_rates_by_mode_and_country(app_for: AppFactory, seeded: Seeded) -> None:
    at = app_for(Role.MANAGER, "success_rates", **period(seeded))
    by_method = success.success_rates(
        seeded.engine, "method", analytics_filters(seeded), compare_previous=True
    )
    by_method_table = table(at, "method", "failures")
    assert list(by_method_table["method"]) == list(by_method["method"])
    assert list(by_method_table["attempts"]) == list(by_method["attempts"])
    by_country = success.success_rates(seeded.engine, "country", analytics_filters(seeded))
    assert list(at.dataframe(key="success_country_table").value["attempts"]) == list(by_country["attempts"])

    at.selectbox(key="success_drill").set_value(("method", "upi")).run()
    drilled = at.dataframe(key="table_success-payments-method-upi").value
    assert set(drilled["method"]) == {"upi"}
    upi = by_method[by_method["method"] == "upi"].iloc[0]
    assert len(drilled) == int(upi["attempts"])

    at.selectbox(key="success_drill").set_value(("country", "IN")).run()
    drilled = at.dataframe(key="table_success-payments-country-IN").value
    assert set(drilled["country"]) == {"IN"}
    india = int(by_country[by_country["country"] == "IN"].iloc[0]["attempts"])
    assert india > 200  # more than the table holds: it shows the newest 200 and says so
    assert len(drilled) == 200
    assert f"Showing 200 of {count(india)} payments; the CSV has all {count(india)}." in [
        c.value for c in at.caption
    ]
    next(b for b in at.button if b.key == "prepare_success-payments-country-IN").click().run()
    prepared = at.session_state["payops_exports"]["csv_success-payments-country-IN"]
    assert prepared.rows == india == len(prepared.data.decode("utf-8").splitlines()) - 1


@pytest.mark.parametrize("dimension", ["bank", "upi_app", "card_network", "wallet"])
def test_success_rates_every_bar_drills_down_to_its_attempts(
    app_for: AppFactory, seeded: Seeded, dimension: str
) -> None:
    at = app_for(Role.MANAGER, "success_rates", **period(seeded))
    at.segmented_control(key="success_by").set_value(dimension).run()
    bars = success.success_rates(seeded.engine, dimension, analytics_filters(seeded), compare_previous=True)
    assert list(table(at, dimension, "failures")["attempts"]) == list(bars["attempts"])

    for bar in bars.to_dict(orient="records"):
        value = str(bar[dimension])
        at.selectbox(key="success_drill").set_value((dimension, value)).run()
        assert not at.exception, [e.value for e in at.exception]
        drilled = at.dataframe(key=f"table_success-payments-{dimension}-{value}").value
        expected = success.payments_drilldown(
            seeded.engine,
            analytics_filters(seeded),
            dimension=dimension,
            value=value,
            outcome="attempt",
            limit=200,
        )
        assert len(drilled) == bar["attempts"] > 0
        assert list(drilled["id"]) == list(expected["id"])
        # Codes read as words: bank names, the UPI app with its handle (dashboard/labels.py).
        shown = {"bank": bank_name(value), "upi_app": f"{upi_app(value)} (@{value})"}.get(dimension, value)
        assert set(drilled[dimension]) == {shown}
        assert "created" not in set(drilled["status"])


def test_failures_page_matches_failure_reasons(app_for: AppFactory, seeded: Seeded) -> None:
    at = app_for(Role.MANAGER, "failures", **period(seeded))
    reasons = success.failure_reasons(seeded.engine, analytics_filters(seeded), limit=15)
    # The top reason in words, on a card that wraps them (no metric card holds a phrase whole).
    top_reason = plain(reason_text(str(reasons.iloc[0]["error_reason"])))
    assert f"#### {top_reason}" in [element.value for element in at.markdown]
    assert list(at.dataframe(key="failure_reasons_table").value["failures"]) == list(reasons["failures"])

    reason = str(reasons.iloc[0]["error_reason"])
    at.selectbox(key="failure_drill").set_value(("error_reason", reason)).run()
    drilled = at.dataframe(key=f"table_failed-payments-error_reason-{reason}").value
    assert len(drilled) == int(reasons.iloc[0]["failures"])
    assert set(drilled["status"]) == {"failed"}

    by_method = success.failure_reasons(seeded.engine, analytics_filters(seeded), by=("method",), limit=20)
    assert len(by_method) >= 2
    for bar in by_method.to_dict(orient="records"):
        method = str(bar["method"])
        at.selectbox(key="failure_drill").set_value(("method", method)).run()
        drilled = at.dataframe(key=f"table_failed-payments-method-{method}").value
        assert len(drilled) == bar["failures"] > 0
        assert set(drilled["method"]) == {method}
        assert set(drilled["status"]) == {"failed"}


def test_webhook_health_matches_analytics(app_for: AppFactory, seeded: Seeded) -> None:
    at = app_for(Role.OPERATIONS, "webhook_health", **period(seeded))
    health = webhook_health.webhook_health(seeded.engine, analytics_filters(seeded))
    shown = metrics(at)
    assert shown["Events received"] == count(int(health.by_type_day["unique_events"].sum()))
    assert shown["Rejected deliveries"] == count(int(health.rejections["rejections"].sum()))
    assert shown["Duplicate deliveries"] == count(
        int(health.by_type_day["deliveries"].sum() - health.by_type_day["unique_events"].sum())
    )


def test_settlements_waterfall_matches_lines(app_for: AppFactory, seeded: Seeded) -> None:
    at = app_for(Role.FINANCE, "settlements", **period(seeded))
    (inr,) = settlements.settlement_waterfalls(seeded.engine, analytics_filters(seeded))
    assert inr.unexplained == 0
    shown = metrics(at)
    assert shown["Net settled"] == money(inr.net, "INR")
    assert shown["Gross settled"] == money(inr.gross, "INR")
    assert shown["Refunds"] == money(5_000, "INR")

    at.selectbox(key="settlement_drill").set_value(seeded.facts["settlement_id"]).run()
    lines = table(at, "entity_id", "credit_shown")
    assert len(lines) == inr.lines


def test_mismatches_finance_acknowledges_with_note(app_for: AppFactory, seeded: Seeded) -> None:
    at = app_for(Role.FINANCE, "mismatches")
    summary = mismatches.mismatch_summary(seeded.engine)
    open_count = int(summary[summary["status"] == "open"]["count"].sum())
    assert open_count > 0
    assert metrics(at)["Open"] == count(open_count)

    first = mismatches.list_mismatches(seeded.engine, status="open").iloc[0]
    at.selectbox(key="mismatch_pick").set_value(int(first["id"])).run()
    at.radio(key="mismatch_decision_choice").set_value("acknowledge")
    at.text_area(key="mismatch_note").input("Asked Razorpay support, ticket 123")
    next(b for b in at.button if b.label == "Record decision").click().run()
    assert not at.exception
    after = mismatches.get_mismatch(seeded.engine, int(first["id"]))
    assert after is not None
    assert after["status"] == "acknowledged"
    assert after["updated_by"] == "finance-tester"
    assert after["note"] == "Asked Razorpay support, ticket 123"
    mismatches.reopen(seeded.engine, int(first["id"]), "test-cleanup")


def test_mismatches_are_read_only_for_operations(app_for: AppFactory, seeded: Seeded) -> None:
    at = app_for(Role.OPERATIONS, "mismatches")
    first = mismatches.list_mismatches(seeded.engine, status="open").iloc[0]
    at.selectbox(key="mismatch_pick").set_value(int(first["id"])).run()
    assert not at.exception
    assert len(at.get("form")) == 0
    assert any("finance and admin" in c.value for c in at.caption)


def test_payments_search_by_email_shows_the_story(app_for: AppFactory, seeded: Seeded) -> None:
    at = app_for(Role.FINANCE, "payments", q=seeded.facts["email"])
    assert not at.exception
    assert at.text_input(key="payment_search").value == seeded.facts["email"]
    found = at.dataframe(key="table_payment-search").value
    assert list(found["id"]) == [seeded.facts["payment_id"]]
    assert any(plain(seeded.facts["email"]) in m.value for m in at.markdown)  # shown as text
    timeline = table(at, "what", "detail")
    assert "Payment created" in set(timeline["what"])


@pytest.mark.parametrize("field", ["refund_id", "settlement_id", "order_id", "contact"])
def test_payments_search_by_other_ids(app_for: AppFactory, seeded: Seeded, field: str) -> None:
    at = app_for(Role.OPERATIONS, "payments", q=seeded.facts[field])
    ids = set(at.dataframe(key="table_payment-search").value["id"])
    expected = set(payment_story.find_payments(seeded.engine, seeded.facts[field]).first["id"])
    assert ids == expected
    assert ids


def test_refunded_payment_story_has_refund_and_settlement(app_for: AppFactory, seeded: Seeded) -> None:
    at = app_for(Role.FINANCE, "payments", q=seeded.facts["refunded_payment_id"])
    assert list(table(at, "state_at", "amount_shown")["id"]) == [seeded.facts["refund_id"]]
    lines = table(at, "entity_id", "settlement_id", "credit_shown")
    assert set(lines["type"]) == {"payment", "refund"}
    assert set(lines["settlement_id"]) == {seeded.facts["settlement_id"]}


def test_sync_status_shows_freshness_runs_and_quarantine(app_for: AppFactory, seeded: Seeded) -> None:
    at = app_for(Role.OPERATIONS, "sync_status")
    freshness = table(at, "entity", "lag")
    # Entities read as words on screen (issue 12); the freshness CSV keeps the table names.
    assert set(freshness["entity"]) >= {"Payments", "Orders", "Refunds", "Settlements", "Settlement lines"}
    payments_row = freshness[freshness["entity"] == "Payments"].iloc[0]
    assert payments_row["rows"] == seeded.facts["payments"]
    assert freshness["checkpoint"].notna().sum() == len(ENTITY_NAMES)
    # The seed's checkpoints are 15 minutes before the pinned start; the clock ticks while the page
    # renders, so a slow run may read a minute or two more, never less and never more than elapsed.
    elapsed_minutes = (datetime.now(UTC) - TEST_NOW).total_seconds() / 60
    lags = {int(lag.split()[0]) for lag in freshness["lag"]}
    assert all(15 <= lag <= 16 + math.ceil(elapsed_minutes) for lag in lags), lags
    assert all(lag.endswith(" min behind") for lag in freshness["lag"])
    assert list(table(at, "reason", "raw")["entity_id"]) == ["pay_broken0001"]
    assert [b.label for b in at.button if b.key == "run_sync"] == ["Run sync now"]


def test_sync_status_says_when_a_sync_is_already_running(app_for: AppFactory, seeded: Seeded) -> None:
    # A day-long lease, so the page (which reads the real clock) sees it live however slow the run.
    held = acquire_leases(seeded.engine, ["payments"], ttl=timedelta(days=1), host="sync-host-b", pid=4242)
    try:
        at = app_for(Role.OPERATIONS, "sync_status")
        shown = [info.value for info in at.info]
    finally:
        held.release()
    assert any(
        text.startswith("A sync is already running (a second one would not start): ")
        and "payments is being synced by a run starting on sync-host-b (pid 4242)" in text
        for text in shown
    ), shown


def test_run_sync_now_does_not_start_while_another_run_holds_the_lease(seeded: Seeded) -> None:
    held = acquire_leases(seeded.engine, ["settlements"], ttl=timedelta(days=1), host="sync-host-b", pid=4242)
    launcher = SyncLauncher()
    try:
        assert launcher.start(seeded.engine, "ops-tester")
        assert launcher.thread is not None
        launcher.thread.join(timeout=120)
    finally:
        held.release()
    assert launcher.outcome is not None
    assert launcher.outcome.startswith(
        "not started: another sync is running: settlements is being synced by a run starting on sync-host-b"
    ), launcher.outcome
    with seeded.engine.connect() as conn:  # the refused run leased nothing of its own
        assert conn.execute(select(SyncLease.entity)).all() == []


def test_csv_download_is_audited(app_for: AppFactory, seeded: Seeded) -> None:
    at = app_for(Role.FINANCE, "overview", **period(seeded))
    before = _audit_rows(seeded, "export_csv")
    next(b for b in at.button if b.label.startswith("Prepare CSV")).click().run()
    assert not at.exception
    after = _audit_rows(seeded, "export_csv")
    assert len(after) == len(before) + 1
    newest = after[-1]
    assert newest.actor == "finance-tester"
    assert newest.target == "overview-by-currency"
    assert newest.detail["rows"] == 2


def _audit_rows(seeded: Seeded, action: str) -> list[Any]:
    with seeded.engine.connect() as conn:
        return list(
            conn.execute(select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id)).all()
        )
