"""Success rates (managers, admin): the trend against the previous period, rates by payment mode, bank,
card network, UPI app and wallet, a world map by country, and the payments behind any bar."""

import streamlit as st

from dashboard import charts, queries, widgets
from dashboard.auth import require_page
from dashboard.downtime_view import downtime_section
from dashboard.format import percent, percent_points
from dashboard.labels import bank_name, country_derivation, country_label, method_label, plural, upi_app

user = require_page("success_rates")
st.title("Success rates")

filters = widgets.filter_bar()
query = filters.to_analytics()
compared = widgets.comparison(filters)
st.caption(
    f"{filters.describe()} · attempt success rate = payments authorized, captured or refunded ÷ all attempts "
    f"(each retry is an attempt); the order-level rate is further down · {compared.caption}"
)

summary = queries.kpis(query, compare_previous=False)
if summary.attempts == 0:
    widgets.empty_state("No payments in this period.", widgets.NO_PAYMENTS_NEXT_STEP)
    st.stop()

previous = widgets.previous_kpis(compared)
previous_rate = previous.success_rate if previous else None
widgets.kpi_row(
    [
        widgets.Kpi(
            "Success rate", percent(summary.success_rate), help="Successful ÷ attempts in the period."
        ),
        widgets.Kpi("Previous period", percent(previous_rate), help=compared.caption),
        widgets.Kpi(
            "Change",
            percent_points(summary.success_rate - previous_rate)
            if summary.success_rate is not None and previous_rate is not None
            else "—",
            help="This period's rate minus the previous period's, in percentage points.",
        ),
        widgets.count_kpi("Attempts", summary.attempts, help="Payments attempted in the period (count)."),
    ]
)

widgets.success_trend(filters, compared, key="success_trend")
downtime_section(filters)

DIMENSIONS = {
    "method": "Payment mode",
    "bank": "Bank (netbanking)",
    "card_network": "Card network",
    "upi_app": "UPI app",
    "wallet": "Wallet",
}
# An alert's link opens the breakdown it is about (?by=bank).
widgets.restore_from_url("success_by", "by", list(DIMENSIONS))
dimension = (
    st.segmented_control(
        "Break down by",
        list(DIMENSIONS),
        format_func=DIMENSIONS.__getitem__,
        default=None if "success_by" in st.session_state else "method",
        key="success_by",
    )
    or "method"
)
widgets.keep_in_url("by", dimension, "method")
by_dimension = queries.success_rates(dimension, query, compare_previous=compared.previous is not None)
by_country = queries.success_rates("country", query)
# Every bar, country and country row, and the picker at the end, lead to one drill-down (dimension, value).
bars = {dimension: by_dimension, "country": by_country}
drill_options = [(field, str(value)) for field, frame in bars.items() for value in frame[field]]
chart_key = f"success_bars_{dimension}"
if dimension == "upi_app":
    # UPI: bars per app (Google Pay, PhonePe …, dashboard/labels.py); a bar drills into that app's handles.
    by_app = widgets.group_by_upi_app(by_dimension)
    apps = list(by_app["upi_app_name"])
    st.plotly_chart(
        charts.rate_bars(by_app, "upi_app_name", "Success rate by UPI app"),
        key=chart_key,
        on_select=widgets.select_on_click(chart_key, "success_upi_app", apps),
        selection_mode="points",
    )
    picked_app = st.selectbox(
        "Handles of UPI app (or click a bar)",
        [None, *apps],
        format_func=lambda a: "Every app" if a is None else a,
        key="success_upi_app",
    )
    by_dimension = by_dimension.assign(upi_app_name=[upi_app(h) for h in by_dimension["upi_app"]])
    if picked_app is not None:
        by_dimension = by_dimension[by_dimension["upi_app_name"] == picked_app]
else:
    st.plotly_chart(
        charts.rate_bars(by_dimension, dimension, f"Success rate by {DIMENSIONS[dimension].lower()}"),
        key=chart_key,
        on_select=widgets.select_on_click(
            chart_key, "success_drill", drill_options, to_option=lambda v: (dimension, str(v))
        ),
        selection_mode="points",
    )
# The names people read beside the codes (the CSV keeps the codes).
LABELS = {"bank": bank_name, "method": method_label}
named = LABELS.get(dimension)
table = by_dimension.assign(label=[named(v) if named else v for v in by_dimension[dimension]])
st.dataframe(
    table,
    column_order=[
        *(["upi_app_name"] if dimension == "upi_app" else []),
        "label" if named else dimension,
        "attempts",
        "successes",
        "failures",
        "success_rate",
        *(["prev_success_rate", "delta_pp"] if compared.previous is not None else []),
    ],
    column_config={
        dimension: "UPI handle" if dimension == "upi_app" else DIMENSIONS[dimension],
        "label": DIMENSIONS[dimension],
        "upi_app_name": "UPI app",
        "attempts": widgets.count_column("Attempts"),
        "successes": widgets.count_column("Successful"),
        "failures": widgets.count_column("Failed"),
        "success_rate": widgets.percent_column("Success rate"),
        "prev_success_rate": widgets.percent_column("Previous period"),
        "delta_pp": st.column_config.NumberColumn("Change (pp)", format="%+.1f pp"),
    },
    hide_index=True,
    key=f"success_table_{dimension}",
)
widgets.csv_download(by_dimension, name=f"success-rates-by-{dimension}", user=user, filters=filters)

st.subheader("Orders: paid in the end, after retries")
st.caption(
    "**Order success rate** = orders eventually paid ÷ orders attempted (an order whose first attempt falls "
    "in the period; paid = any of its attempts succeeded). Beside it, the **attempt success rate** of the "
    "same orders' payments. A customer who fails on a card and pays by UPI is a saved sale: counted under "
    "card, in *paid by another method*."
)
orders = queries.order_success(query)
if orders.empty:
    st.caption("No payments with an order in this period.")
else:
    st.dataframe(
        orders.assign(
            method_shown=["All methods" if v == "all" else method_label(v) for v in orders["first_method"]]
        ),
        # The two rates first: eleven columns do not fit 1280 px, and these are what the table is for.
        column_order=[
            "method_shown",
            "order_success_rate",
            "attempt_success_rate",
            "orders_attempted",
            "orders_paid",
            "paid_first_attempt",
            "paid_after_retry",
            "paid_by_other_method",
            "avg_attempts_to_pay",
            "attempts",
            "attempt_successes",
        ],
        column_config={
            "method_shown": "First attempt's method",
            "orders_attempted": widgets.count_column("Orders attempted"),
            "orders_paid": widgets.count_column("Orders paid"),
            "order_success_rate": widgets.percent_column("Order success rate"),
            "paid_first_attempt": widgets.count_column("Paid first try"),
            "paid_after_retry": widgets.count_column("Paid after a retry"),
            "paid_by_other_method": widgets.count_column("Paid by another method"),
            "avg_attempts_to_pay": st.column_config.NumberColumn("Attempts to pay (avg)", format="%.2f"),
            "attempts": widgets.count_column("Attempts"),
            "attempt_successes": widgets.count_column("Successful attempts"),
            "attempt_success_rate": widgets.percent_column("Attempt success rate"),
        },
        hide_index=True,
        key="success_orders_table",
    )

st.subheader("By country")
metric = st.radio(
    "Colour the map by",
    ["success_rate", "attempts"],
    horizontal=True,
    key="success_map_metric",
    format_func={"success_rate": "Success rate", "attempts": "Attempts (volume)"}.__getitem__,
)
st.plotly_chart(
    charts.world_map(by_country, metric=metric or "success_rate"),
    key="success_map",
    config=charts.MAP_CONFIG,
    on_select=widgets.select_on_click(
        "success_map", "success_drill", drill_options, to_option=lambda v: ("country", str(v))
    ),
)
unknown = by_country[by_country["country"] == "unknown"]
if not unknown.empty:
    unknowns = int(unknown["attempts"].iloc[0])
    st.caption(
        f"{plural(unknowns, 'attempt')} {'has' if unknowns == 1 else 'have'} no derivable country and "
        f"{'is' if unknowns == 1 else 'are'} not on the map."
    )
st.dataframe(
    by_country.assign(
        country_shown=[country_label(c) for c in by_country["country"]],
        derived=[country_derivation(s) for s in by_country["country_sources"]],
    ),
    column_order=["country_shown", "derived", "attempts", "successes", "success_rate"],
    column_config={
        "country_shown": "Country",
        "derived": st.column_config.TextColumn(
            "How country was derived", help="Attempts per source of the country (the CSV has source:count)."
        ),
        "attempts": widgets.count_column("Attempts"),
        "successes": widgets.count_column("Successful"),
        "success_rate": widgets.percent_column("Success rate"),
    },
    hide_index=True,
    key="success_country_table",
    on_select=widgets.select_on_click(
        "success_country_table",
        "success_drill",
        drill_options,
        rows=[("country", str(c)) for c in by_country["country"]],
    ),
    selection_mode="single-row",
)
widgets.csv_download(by_country, name="success-rates-by-country", user=user, filters=filters)

st.subheader("Payments behind a bar")
picked = widgets.drill_selector(
    "Show the attempts behind (or click a bar, a country on the map or a country row)",
    drill_options,
    key="success_drill",
    format_func=lambda pick: (
        f"{DIMENSIONS.get(pick[0], 'Country')}: "
        + (country_label(pick[1]) if pick[0] == "country" else LABELS.get(pick[0], str)(pick[1]))
    ),
)
widgets.payments_behind(
    picked,
    bars,
    query,
    outcome="attempt",
    counted="attempts",
    name="success-payments",
    user=user,
    filters=filters,
)
