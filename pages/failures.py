"""Failures (managers, admin): how many payments failed, why (source → step → reason), by payment mode,
and the failed payments behind any reason or payment mode."""

import streamlit as st

from dashboard import charts, queries, widgets
from dashboard.auth import require_page
from dashboard.format import percent
from dashboard.labels import method_label, plural, reason_text

user = require_page("failures")
st.title("Failures")

filters = widgets.filter_bar()
query = filters.to_analytics()
compared = widgets.comparison(filters)
st.caption(f"{filters.describe()} · a failure is a payment whose final status is failed · {compared.caption}")

summary = queries.kpis(query, compare_previous=False)
if summary.attempts == 0:
    widgets.empty_state("No payments in this period.", widgets.NO_PAYMENTS_NEXT_STEP)
    st.stop()
if summary.failures == 0:
    st.success(f"No failed payments among {plural(summary.attempts, 'attempt')} in this period.")
    st.stop()

reasons = queries.failure_reasons(query, limit=15)
by_method = queries.failure_reasons(query, by=("method",), limit=20)
# Every bar, reason row and the picker below lead to the same drill-down (dimension, value).
reason_options = [("error_reason", str(value)) for value in reasons["error_reason"]]
method_options = [("method", str(value)) for value in by_method["method"]]
drill_options = list(dict.fromkeys([*reason_options, *method_options]))
previous = widgets.previous_kpis(compared)
top = reasons.iloc[0]
widgets.kpi_row(
    [
        widgets.count_kpi(
            "Failed payments",
            summary.failures,
            delta=f"{summary.failures - previous.failures:+,} vs previous" if previous else None,
            delta_color="inverse",
            help="Payments whose final status is failed (count).",
        ),
        widgets.Kpi(
            "Failure rate",
            percent(summary.failures / summary.attempts),
            help="Failed ÷ attempts in the period.",
        ),
        widgets.Kpi(
            "Top reason",
            reason_text(str(top["error_reason"])),
            help=f"{plural(int(top['failures']), 'failure')}, {percent(float(top['share']))} of all failures.",
        ),
        widgets.Kpi(
            "Top reason's share",
            percent(float(top["share"])),
            help="Failures with that reason ÷ all failures.",
        ),
    ]
)

st.plotly_chart(
    charts.failure_bars(reasons),
    key="failure_bars",
    on_select=widgets.select_on_click(
        "failure_bars",
        "failure_drill",
        drill_options,
        field="y",
        to_option=lambda v: ("error_reason", str(v)),
    ),
    selection_mode="points",
)
st.dataframe(
    widgets.human_codes(reasons),  # words on screen; the CSV below keeps the codes
    column_config={
        "error_source": "Source",
        "error_step": "Step",
        "error_reason": "Reason",
        "failures": widgets.count_column("Failed payments"),
        "share": widgets.percent_column("Share of failures"),
    },
    hide_index=True,
    key="failure_reasons_table",
    on_select=widgets.select_on_click(
        "failure_reasons_table", "failure_drill", drill_options, rows=reason_options
    ),
    selection_mode="single-row",
)
widgets.csv_download(reasons, name="failure-reasons", user=user, filters=filters)

st.subheader("By payment mode")
st.plotly_chart(
    charts.count_bars(
        by_method,
        "method",
        "failures",
        "Failed payments by payment mode",
        "Failed payments (count)",
        labels=[method_label(m) for m in by_method["method"]],
        x_title="Payment mode",
    ),
    key="failure_methods",
    on_select=widgets.select_on_click(
        "failure_methods", "failure_drill", drill_options, to_option=lambda v: ("method", str(v))
    ),
    selection_mode="points",
)

st.subheader("Failed payments behind a bar")
bars = {"error_reason": reasons, "method": by_method}
labels = {"error_reason": "Reason", "method": "Payment mode"}
picked = widgets.drill_selector(
    "Show failed payments for (or click a bar / a reason row above)",
    drill_options,
    key="failure_drill",
    format_func=lambda pick: (
        f"{labels[pick[0]]}: {reason_text(pick[1]) if pick[0] == 'error_reason' else method_label(pick[1])}"
    ),
)
widgets.payments_behind(
    picked,
    bars,
    query,
    outcome="failure",
    counted="failures",
    name="failed-payments",
    user=user,
    filters=filters,
)
