"""Webhook health (operations, admin): are Razorpay's webhooks arriving, how late, how often twice, which
failed signature checks, which never came, and which disagree with the API."""

import pandas as pd
import streamlit as st

from dashboard import charts, exports, queries, widgets
from dashboard.auth import require_page
from dashboard.format import count, duration_ms, ist

user = require_page("webhook_health")
st.title("Webhook health")

filters = widgets.filter_bar(currency=False, method=False, country=False)
health = queries.webhook_health(filters.to_analytics())
st.caption(
    f"{filters.describe()} · by the event's own created_at · webhooks counted as flowing "
    f"from {ist(health.coverage_start)} to {ist(health.coverage_end)}"
)

by_day = health.by_type_day
if by_day.empty and health.rejections.empty and health.missing.empty:
    widgets.empty_state(
        "No webhook events in this period.",
        "Start the receiver with `python -m sync.webhooks serve --host 127.0.0.1 --port 8000` and point "
        "Razorpay's webhook (or `python -m sandbox webhooks --to http://127.0.0.1:8000/webhooks/razorpay`) at it.",
    )
    st.stop()

unique_events = int(by_day["unique_events"].sum()) if not by_day.empty else 0
deliveries = int(by_day["deliveries"].sum()) if not by_day.empty else 0
worst_p95 = float(by_day["lag_p95_ms"].max()) if not by_day.empty else None
widgets.kpi_row(
    [
        widgets.Kpi(
            "Events received", count(unique_events), help="Distinct event ids verified and stored (count)."
        ),
        widgets.Kpi(
            "Duplicate deliveries",
            count(deliveries - unique_events),
            help="Deliveries beyond the first for the same X-Razorpay-Event-Id (count). Harmless: deduplicated.",
        ),
        widgets.Kpi(
            "Late events",
            count(int(by_day["late_events"].sum()) if not by_day.empty else 0),
            help="Events received more than 5 minutes after Razorpay created them (count).",
            delta_color="inverse",
        ),
        widgets.Kpi(
            "Rejected deliveries",
            count(int(health.rejections["rejections"].sum()) if not health.rejections.empty else 0),
            help="Deliveries refused: bad or missing signature, malformed body (count).",
        ),
        widgets.Kpi(
            "Missing events",
            count(health.missing_total),
            help="State changes seen through the API with no webhook after a 30-minute grace period (count).",
        ),
        widgets.Kpi(
            "Worst daily p95 lag",
            duration_ms(worst_p95),
            help="Largest per-day, per-type 95th percentile of received − created.",
        ),
    ]
)

st.subheader("Delivery lag over time")
if by_day.empty:
    st.caption("No deliveries in this period.")
else:
    event_types = list(by_day.groupby("event_type")["deliveries"].sum().sort_values(ascending=False).index)
    event_type = st.selectbox("Event type", event_types, key="webhook_event_type")
    st.plotly_chart(charts.lag_percentiles(by_day[by_day["event_type"] == event_type]), key="webhook_lag")
    st.dataframe(
        by_day,
        column_config={
            "day": st.column_config.DateColumn("IST day", format="D MMM YYYY"),
            "event_type": "Event type",
            "deliveries": widgets.count_column("Deliveries"),
            "unique_events": widgets.count_column("Unique events"),
            "duplicates": widgets.count_column("Duplicates"),
            "late_events": widgets.count_column("Late (>5 min)"),
            "lag_p50_ms": st.column_config.NumberColumn("p50 lag (ms)", format="%,d ms"),
            "lag_p95_ms": st.column_config.NumberColumn("p95 lag (ms)", format="%,d ms"),
            "lag_p99_ms": st.column_config.NumberColumn("p99 lag (ms)", format="%,d ms"),
        },
        hide_index=True,
        key="webhook_by_day",
    )
    widgets.csv_download(by_day, name="webhook-by-type-day", user=user, filters=filters)

TIME_COLUMNS = ("created_at", "received_at", "event_created_at", "start", "end")


def problem_table(
    frame: pd.DataFrame,
    name: str,
    empty: str,
    total: int | None = None,
    write: exports.Writer | None = None,
) -> None:
    """One tab per kind of problem; payment ids link to Razorpay, times in IST, CSV below. `total`:
    how many exist when the table holds only the first of them (`write` then streams them all)."""
    if frame.empty:
        st.success(empty)
        return
    if total is not None:
        widgets.showing(len(frame), total, "rows")
    shown = frame
    config: dict[str, object] = {
        column: widgets.ist_column(column.replace("_", " ").capitalize() + " (IST)")
        for column in TIME_COLUMNS
        if column in frame
    }
    if "amount" in frame and "currency" in frame:
        shown = widgets.with_money(shown, "amount")
        config["amount_shown"] = widgets.money_column("Amount")
        config["amount"] = None
    if "lag_ms" in frame:
        config["lag_ms"] = st.column_config.NumberColumn("Lag (ms)", format="%,d ms")
    st.dataframe(
        widgets.dashes(shown, "payment_id", "event_id", "event_type", "detail"),
        column_config=widgets.labelled(shown, config),
        hide_index=True,
        key=f"webhook_{name}",
    )
    widgets.csv_download(
        frame,
        name=f"webhook-{name}",
        user=user,
        filters=filters,
        total=total,
        write=write,
        page="webhook_health",
    )


tabs = st.tabs(["Missing", "Late", "Duplicates", "Rejected", "Status conflicts", "Silences"])
with tabs[0]:
    st.caption("Expected a webhook for this state change; none arrived within 30 minutes.")
    problem_table(
        health.missing,
        "missing",
        "No missing webhooks.",
        total=health.missing_total,
        write=exports.rows_writer(
            lambda: queries.missing_webhook_rows(filters.to_analytics()), list(health.missing.columns)
        ),
    )
with tabs[1]:
    problem_table(
        health.late,
        "late",
        "No late webhooks.",
        total=health.late_total,
        write=exports.rows_writer(
            lambda: queries.webhook_problem_rows("late", filters.to_analytics()), list(health.late.columns)
        ),
    )
with tabs[2]:
    problem_table(
        health.duplicates,
        "duplicates",
        "No duplicate deliveries.",
        total=health.duplicates_total,
        write=exports.rows_writer(
            lambda: queries.webhook_problem_rows("duplicates", filters.to_analytics()),
            list(health.duplicates.columns),
        ),
    )
with tabs[3]:
    st.caption("Bodies of rejected deliveries are kept only as a hash and a size.")
    problem_table(health.rejections, "rejections", "No rejected deliveries.")
with tabs[4]:
    st.caption("The webhook's status disagrees with what the API says now.")
    problem_table(
        health.conflicts,
        "conflicts",
        "No webhook/API status conflicts.",
        total=health.conflicts_total,
        write=exports.rows_writer(
            lambda: queries.webhook_problem_rows("conflicts", filters.to_analytics()),
            list(health.conflicts.columns),
        ),
    )
with tabs[5]:
    st.caption("Stretches with payments created but no webhook received.")
    problem_table(health.silences, "silences", "No silences.")
