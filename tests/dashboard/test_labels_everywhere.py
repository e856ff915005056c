"""Issue 12, "Everywhere", after a walk through the demo's screenshots: codes still shown raw on the
Failures, Success rates, Disputes, Mismatches and Sync status pages, "1 failures", milliseconds in the
payment timeline, two age-bucket schemes, charts whose labels could not be read. Each test here failed
on the code before this change; the CSVs keep the codes finance joins on."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import select

from analytics import mismatch_bulk, mismatches, payment_story, success
from analytics.downtime_impact import DowntimeImpact, UndeclaredDip
from dashboard import charts, downtime_view
from dashboard.labels import (
    country_derivation,
    country_label,
    entity_label,
    method_label,
    plural,
    reason_text,
    rows,
    words,
)
from dashboard.roles import Role
from data.durations import duration_text
from data.models import WebhookEvent
from tests.dashboard.conftest import AppFactory, Seeded
from tests.dashboard.test_pages import analytics_filters, period, table
from tests.support.exports import prepare_csv


def _charts(at: Any) -> list[dict[str, Any]]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def _chart(at: Any, title: str) -> dict[str, Any]:
    return next(spec for spec in _charts(at) if spec["layout"].get("title", {}).get("text", "") == title)


def _column_config(at: Any, key: str) -> dict[str, Any]:
    return dict(json.loads(at.dataframe(key=key).proto.columns))


# --- the words themselves (dashboard/labels.py, data/durations.py) ---------------------------------


def test_codes_become_words_with_acronyms_upper_case() -> None:
    assert reason_text("incorrect_pin") == "Incorrect PIN"
    assert reason_text("upi_invalid_beneficiary") == "UPI invalid beneficiary"
    assert words("otp_not_received") == "OTP not received"
    assert words("emi_card_3ds_failed") == "EMI card 3DS failed"
    assert words("invalid_cvv") == "Invalid CVV" and words("bad_vpa_id") == "Bad VPA ID"
    assert words("payment_authentication") == "Payment authentication" and words("bank") == "Bank"
    assert words(None) == "—" and words("") == "—"
    assert entity_label("settlement_lines") == "Settlement lines" and entity_label("payments") == "Payments"


def test_methods_countries_and_derivations_read_as_names() -> None:
    assert [method_label(m) for m in ("upi", "netbanking", "emi", "paylater", "card", "wallet")] == [
        "UPI",
        "Netbanking",
        "EMI",
        "Pay later",
        "Card",
        "Wallet",
    ]
    assert method_label("cardless_emi") == "Cardless EMI" and method_label("new_method") == "New method"
    assert country_label("IN") == "India (IN)" and country_label("unknown") == "Unknown"
    assert country_derivation("phone:14200, notes:522") == (
        "from the phone number: 14,200 · from the order notes: 522"
    )
    assert country_derivation("domestic_method:1234567") == (
        "from a domestic-only method (UPI, netbanking): 12,34,567"
    )


def test_counts_agree_with_their_nouns() -> None:
    assert (plural(1, "failure"), plural(2, "failure"), plural(0, "attempt")) == (
        "1 failure",
        "2 failures",
        "0 attempts",
    )
    assert plural(123456, "mismatch", "mismatches") == "1,23,456 mismatches"
    assert (rows(1), rows(2)) == ("1 row", "2 rows")


def test_durations_read_as_people_say_them() -> None:
    assert [duration_text(v) for v in (850, 2764, 59_949, 960_000, 9_000_000)] == [
        "850 ms",
        "2.8 s",
        "59.9 s",
        "16.0 min",
        "2.5 h",
    ]
    assert duration_text(None) == "—"


def test_one_age_bucket_scheme_for_the_list_the_chart_and_the_worklist() -> None:
    assert (
        mismatch_bulk.AGE_BUCKETS
        == mismatches.AGE_BUCKETS
        == ("0–2 days", "3–7 days", "8–30 days", "> 30 days")
    )
    assert [mismatches.age_bucket(d) for d in (0.2, 2.9, 3.0, 7.9, 8.0, 30.5, 31.0)] == [
        "0–2 days",
        "0–2 days",
        "3–7 days",
        "3–7 days",
        "8–30 days",
        "8–30 days",
        "> 30 days",
    ]


# --- charts ----------------------------------------------------------------------------------------


def test_small_count_axes_have_one_tick_per_whole_count() -> None:
    frame = pd.DataFrame({"status": ["open", "under_review"], "count": [1, 3]})
    figure = charts.count_bars(frame, "status", "count", "Disputes", "Disputes (count)")
    assert figure.layout.yaxis.tickformat == ",d" and figure.layout.yaxis.dtick == 1
    busy = charts.count_bars(
        frame.assign(count=[100, 300]), "status", "count", "Disputes", "Disputes (count)"
    )
    assert busy.layout.yaxis.tickformat == ",d" and busy.layout.yaxis.dtick is None


def test_dispute_rate_bars_name_methods_and_never_repeat_a_tick() -> None:
    rates = pd.DataFrame(
        {"method": ["card", "upi"], "successes": [600, 1000], "disputed": [1, 6], "rate": [1 / 600, 0.006]}
    )
    figure = charts.dispute_rate_bars(rates, "method", "By payment method")
    assert list(figure.data[0].x) == ["Card", "UPI"]
    assert figure.layout.yaxis.tickformat == ".2%"  # 0.05 % steps: ".1%" read 0.1%, 0.1%, 0.2%, 0.2%
    assert figure.layout.xaxis.title.text == "Payment mode"


def test_downtime_chart_keeps_its_legend_off_the_dates() -> None:
    hours = pd.date_range("2026-11-28 12:00", periods=4, freq="h", tz="Asia/Kolkata")
    hourly = pd.DataFrame(
        {
            "hour": hours,
            "success_rate": [0.9, 0.2, 0.3, 0.9],
            "baseline_rate": [0.9] * 4,
            "attempts": [10] * 4,
        }
    ).assign(successes=[9, 2, 3, 9])
    figure = charts.downtime_rate(hourly, hours[1], hours[2], "RuPay debit card", title="RuPay")
    assert figure.layout.legend.yanchor == "top" and figure.layout.legend.y < -0.2
    assert figure.layout.margin.b >= 100


def test_downtime_sentences_say_1_failure_and_1_attempt() -> None:
    begin = datetime(2026, 11, 28, 13, 30, tzinfo=UTC)
    impact = DowntimeImpact(
        id="down_1",
        method="card",
        instrument={"network": "RuPay"},
        severity="high",
        begin=begin,
        end=begin + timedelta(hours=1),
        declared_at=begin + timedelta(minutes=20),
        window_end=begin + timedelta(hours=1),
        attempts=1,
        failures=1,
        failed_value={},
        baseline_attempts=1,
        baseline_successes=1,
        baseline_weeks=4,
        expected_failures=0.0,
        excess_failures=1,
        likely_lost={},
        drop_before_declared=True,
        failures_before_declared=1,
        expected_before_declared=0.0,
    )
    detail = downtime_view._detail(impact)
    assert "1 of 1 attempt failed" in detail and "4 weeks, 1 attempt)" in detail
    assert "(1 failure from" in detail and "1 failures" not in detail
    dip = UndeclaredDip(
        alert_id=1,
        slice={"method": "netbanking"},
        start=begin,
        end=begin + timedelta(hours=1),
        rate=0.0,
        baseline_rate=0.9,
        attempts=1,
        status="firing",
    )
    assert "of 1 attempt against" in downtime_view.dip_sentence(dip)


def test_payment_timeline_says_how_long_after_in_seconds(seeded: Seeded) -> None:
    with seeded.engine.connect() as conn:
        payment_id, lag_ms = conn.execute(
            select(WebhookEvent.payment_id, WebhookEvent.lag_ms)
            .where(WebhookEvent.lag_ms.between(1_000, 59_000))
            .order_by(WebhookEvent.lag_ms)
            .limit(1)
        ).one()
    story = payment_story.payment_story(seeded.engine, str(payment_id))
    assert story is not None
    details = [
        d for d, w in zip(story.timeline["detail"], story.timeline["what"], strict=True) if "Webhook" in w
    ]
    assert details and all(" ms" not in d for d in details)
    assert f"received {lag_ms / 1000:.1f} s after" in details[0]


# --- pages (AppTest) --------------------------------------------------------------------------------


def test_failures_table_reads_source_step_and_reason_as_words(app_for: AppFactory, seeded: Seeded) -> None:
    at = app_for(Role.MANAGER, "failures", **period(seeded))
    assert not at.exception, [e.value for e in at.exception]
    reasons = success.failure_reasons(seeded.engine, analytics_filters(seeded), limit=15)
    shown = at.dataframe(key="failure_reasons_table").value
    for column in ("error_source", "error_step", "error_reason"):
        assert list(shown[column]) == [reason_text(v) for v in reasons[column]]
        assert not any("_" in str(v) for v in shown[column])
    assert all(str(v)[:1].isupper() for v in shown["error_step"])
    # The payment-mode bars read as names; a click still carries the code.
    by_mode = _chart(at, "Failed payments by payment mode")
    by_method = success.failure_reasons(seeded.engine, analytics_filters(seeded), by=("method",), limit=20)
    assert by_mode["data"][0]["x"] == [method_label(m) for m in by_method["method"]]
    assert [c[0] for c in by_mode["data"][0]["customdata"]] == list(by_method["method"])
    assert by_mode["layout"]["xaxis"]["title"]["text"] == "Payment mode"
    # The CSV keeps the codes finance joins on.
    exported = prepare_csv(at, "failure-reasons")
    assert [row["Error reason"] for row in exported] == list(reasons["error_reason"])


def test_success_rates_name_methods_and_countries(app_for: AppFactory, seeded: Seeded) -> None:
    at = app_for(Role.MANAGER, "success_rates", **period(seeded))
    assert not at.exception, [e.value for e in at.exception]
    by_method = success.success_rates(seeded.engine, "method", analytics_filters(seeded))
    methods = [str(m) for m in by_method["method"]]
    bars = _chart(at, "Success rate by payment mode")
    assert bars["data"][0]["x"] == [method_label(m) for m in methods]
    assert bars["layout"]["xaxis"]["title"]["text"] == "Payment mode"
    shown = table(at, "method", "failures")
    assert list(shown["label"]) == [method_label(m) for m in methods]
    assert list(shown["method"]) == methods  # the code stays behind the label (clicks, CSV)
    # The method filter shows names, its value (and the URL's ?method=) stays the code.
    picker = at.sidebar.selectbox[2]
    assert picker.label == "Method"
    assert "UPI" in picker.options and "upi" not in picker.options
    picker.set_value("upi").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.query_params["method"] in ("upi", ["upi"])

    at = app_for(Role.MANAGER, "success_rates", **period(seeded))
    countries = at.dataframe(key="success_country_table").value
    assert "India (IN)" in set(countries["country_shown"])
    by_country = success.success_rates(seeded.engine, "country", analytics_filters(seeded))
    assert list(countries["derived"]) == [country_derivation(s) for s in by_country["country_sources"]]
    assert all(":" not in text.split(": ")[0] for text in countries["derived"] if text != "—")
    config = _column_config(at, "success_country_table")
    assert config["country_shown"]["label"] == "Country"
    orders = next(f for f in at.dataframe if "order_success_rate" in f.value.columns)
    assert "UPI" in set(orders.value["method_shown"]) and "All methods" in set(orders.value["method_shown"])
    assert list(orders.proto.column_order)[:3] == [
        "method_shown",
        "order_success_rate",
        "attempt_success_rate",
    ]


def test_every_rate_column_shows_the_same_decimals(app_for: AppFactory, seeded: Seeded) -> None:
    # Streamlit's "percent" dropped trailing zeros: this period 85.68 % beside the previous 85.4 %.
    at = app_for(Role.MANAGER, "success_rates", **period(seeded))
    (element,) = [f for f in at.dataframe if {"method", "success_rate", "failures"} <= set(f.value.columns)]
    config = dict(json.loads(element.proto.columns))
    rates = [c for c in config.values() if c.get("type_config", {}).get("format") == "percent"]
    assert rates and all(c["type_config"].get("step") == 0.0001 for c in rates), rates


def test_sync_status_freshness_csv_keeps_table_names(app_for: AppFactory, seeded: Seeded) -> None:
    at = app_for(Role.OPERATIONS, "sync_status")
    assert not at.exception, [e.value for e in at.exception]
    (element,) = [f for f in at.dataframe if {"entity", "lag"} <= set(f.value.columns)]
    shown = element.value
    assert "Settlement lines" in set(shown["entity"]) and "settlement_lines" not in set(shown["entity"])
    cards = {m.label for m in at.metric} | {c.value for c in at.caption}  # metric or wrapping text card
    assert cards >= {"Payments", "Settlement lines"} and "Settlement_lines" not in cards
    exported = prepare_csv(at, "sync-freshness")
    assert "settlement_lines" in {row["Entity"] for row in exported}


def test_mismatch_rules_chart_is_full_width_with_bars_across(app_for: AppFactory, seeded: Seeded) -> None:
    at = app_for(Role.FINANCE, "mismatches")
    assert not at.exception, [e.value for e in at.exception]
    by_rule = _chart(at, "Unresolved by rule")
    assert by_rule["data"][0]["orientation"] == "h"
    # Not inside a half-width column any more.
    assert not any(
        "Unresolved by rule" in c.proto.spec for col in at.columns for c in col.get("plotly_chart")
    )
    shown = at.dataframe(key="mismatch_table").value
    assert list(shown.columns[:4]) == ["id", "rule_title", "expected_shown", "actual_shown"]
    assert set(shown["age_bucket"]) <= set(mismatches.AGE_BUCKETS)
