"""Overview (every role): how many payments were attempted, how many succeeded, the money per currency,
and the success-rate trend against the previous period."""

from dataclasses import replace

import pandas as pd
import streamlit as st

from dashboard import queries, widgets
from dashboard.auth import require_page
from dashboard.format import percent, percent_points
from dashboard.labels import plural

user = require_page("overview")
st.title("Overview")

filters = widgets.filter_bar()
query = filters.to_analytics()
compared = widgets.comparison(filters)
st.caption(f"{filters.describe()} · {compared.caption}")

summary = queries.kpis(query, compare_previous=False)
if summary.attempts == 0:
    widgets.empty_state("No payments in this period.", widgets.NO_PAYMENTS_NEXT_STEP)
    st.stop()

previous = widgets.previous_kpis(compared)
widgets.kpi_row(
    [
        widgets.count_kpi(
            "Payment attempts",
            summary.attempts,
            delta=f"{summary.attempts - previous.attempts:+,} vs previous" if previous else None,
            help="Payments created in the period that reached a final or in-flight state (count).",
        ),
        widgets.Kpi(
            "Success rate",
            percent(summary.success_rate),
            delta=percent_points(summary.success_rate - previous.success_rate)
            if previous and previous.success_rate is not None and summary.success_rate is not None
            else None,
            help="Successful payments (authorized, captured or refunded) ÷ attempts. Delta in percentage points.",
        ),
        widgets.count_kpi("Successful payments", summary.successes, help="Count of successful payments."),
        widgets.count_kpi(
            "Failed payments",
            summary.failures,
            delta=f"{summary.failures - previous.failures:+,} vs previous" if previous else None,
            delta_color="inverse",
            help="Payments whose final status is failed (count).",
        ),
    ]
)

st.subheader("Money by currency")
per_currency = summary.per_currency
CURRENCY_CARDS = 4
busiest = (
    f"The {CURRENCY_CARDS} busiest of {len(per_currency)} currencies (by attempts); every one is in the "
    "table under the chart. "
    if len(per_currency) > CURRENCY_CARDS
    else ""
)
st.caption(f"{busiest}Each currency on its own; amounts are never added across currencies.")
money_cards = [
    widgets.money_kpi(
        f"Successful value ({row['currency']})",
        int(row["success_amount"]),
        str(row["currency"]),
        help=f"Sum of successful payment amounts in {row['currency']}; {plural(int(row['successes']), 'payment')}.",
    )
    # The busiest currencies first (INR for an Indian merchant); the table below lists every one.
    for row in per_currency.sort_values("attempts", ascending=False).head(CURRENCY_CARDS).to_dict("records")
]
if money_cards:
    widgets.kpi_row(money_cards)

st.subheader("Success rate, day by day")
widgets.success_trend(filters, compared, key="overview_trend")

currency_table = widgets.with_money(per_currency, "attempt_amount", "success_amount")
currency_table = currency_table.assign(
    success_rate=pd.Series(
        [
            s / a if a else None
            for s, a in zip(currency_table["successes"], currency_table["attempts"], strict=True)
        ],
        index=currency_table.index,
        dtype="float",
    )
)
currencies = list(per_currency["currency"])
st.dataframe(
    currency_table,
    column_order=[
        "currency",
        "attempts",
        "successes",
        "success_rate",
        "attempt_amount_shown",
        "success_amount_shown",
    ],
    column_config={
        "currency": "Currency",
        "attempts": widgets.count_column("Attempts"),
        "successes": widgets.count_column("Successful"),
        "success_rate": widgets.percent_column("Success rate"),
        "attempt_amount_shown": widgets.money_column("Attempted value"),
        "success_amount_shown": widgets.money_column("Successful value"),
    },
    hide_index=True,
    key="overview_currency_table",
    on_select=widgets.select_on_click(
        "overview_currency_table", "overview_drill_currency", currencies, rows=currencies
    ),
    selection_mode="single-row",
)
widgets.csv_download(per_currency, name="overview-by-currency", user=user, filters=filters)

st.subheader("Payments behind the figures")
picked = widgets.drill_selector(
    "Show the latest payments in currency (or pick a row above)",
    currencies,
    key="overview_drill_currency",
)
if picked is not None:
    in_currency = replace(query, currency=picked)
    widgets.payments_table(
        queries.payments_drilldown(in_currency),
        name=f"overview-payments-{picked}",
        user=user,
        filters=filters,
        total=queries.drilldown_count(in_currency),
        all_rows=lambda: queries.drilldown_rows(in_currency),
    )
