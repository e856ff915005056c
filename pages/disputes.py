"""Disputes (finance, managers, admin): for finance the open disputes, the most urgent first, with their
respond-by deadline and the money at stake per currency; for managers how often payments are disputed,
by payment method and card network."""

import streamlit as st

from dashboard import charts, exports, queries, widgets
from dashboard.auth import require_page
from dashboard.format import count
from dashboard.labels import method_label, reason_text
from dashboard.roles import sees_dispute_rates, sees_open_disputes

user = require_page("disputes")
st.title("Disputes")

if sees_open_disputes(user.role):
    st.subheader("Open disputes")
    st.caption(
        "Not yet won, lost or closed. A dispute needs your response while it is open or action required; "
        "under review, the bank has the evidence. Hours left are to the respond-by deadline."
    )
    now = queries.this_minute()
    summaries = queries.dispute_summary(now)
    if not summaries:
        st.success("No open disputes.")
    for summary in summaries:
        widgets.kpi_row(
            [
                widgets.Kpi("Open disputes", count(summary.open), help=f"In {summary.currency} (count)."),
                widgets.money_kpi(
                    "Money at stake",
                    summary.at_stake,
                    summary.currency,
                    help="Σ disputed amount of the open disputes, in their currency.",
                ),
                widgets.Kpi(
                    "Need a response",
                    count(summary.needs_response),
                    help=f"Open or action required; {count(summary.due_within_48h)} due within 48 hours.",
                ),
                widgets.Kpi(
                    "Past respond-by",
                    count(summary.overdue),
                    help="Needing a response after the deadline: Razorpay may decide them against you.",
                    delta_color="inverse",
                ),
            ]
        )
    open_rows = queries.open_disputes(now)
    if not open_rows.empty:
        open_total = queries.open_disputes_total()
        widgets.showing(len(open_rows), open_total, "disputes")
        st.dataframe(
            # Words on screen (`under_review` → Under review); the CSV keeps the codes.
            widgets.with_money(open_rows, "amount").assign(
                **{
                    column: [reason_text(v) for v in open_rows[column]]
                    for column in ("status", "phase", "reason_code")
                },
                method=[method_label(v) for v in open_rows["method"]],
            ),
            # What finance acts on first (money and deadline), so it is in view at 1280 px.
            column_order=[
                "id",
                "amount_shown",
                "respond_by",
                "hours_left",
                "status",
                "reason_code",
                "phase",
                "payment_id",
                "method",
                "card_network",
            ],
            column_config={
                "id": "Dispute",
                "payment_id": "Payment",
                "status": "Status",
                "phase": "Phase",
                "reason_code": "Reason",
                "amount_shown": widgets.money_column("At stake"),
                "respond_by": widgets.ist_column("Respond by (IST)"),
                "hours_left": widgets.count_column(
                    "Hours left",
                    help="To the respond-by deadline; negative: it has passed. — once the evidence is with the bank.",
                ),
                "method": "Method",
                "card_network": "Network",
            },
            hide_index=True,
            key="open_disputes_table",
        )
        widgets.csv_download(
            open_rows,
            name="open-disputes",
            user=user,
            filters=None,
            total=open_total,
            write=exports.rows_writer(lambda: queries.open_dispute_rows(now), list(open_rows.columns)),
        )

if sees_dispute_rates(user.role):
    st.subheader("Dispute rate")
    filters = widgets.filter_bar(method=False, country=False)
    query = filters.to_analytics()
    st.caption(
        f"{filters.describe()} · payments disputed ÷ successful payments, both of payments created in the period"
    )
    by_method = queries.dispute_rates("method", query)
    by_network = queries.dispute_rates("card_network", query)
    if by_method.empty or int(by_method["disputed"].sum()) == 0:
        st.info(
            "No payment created in this period has been disputed. Disputes arrive with "
            "`python -m sync run` and the `payment.dispute.*` webhooks."
        )
    else:
        left, right = st.columns(2)
        left.plotly_chart(
            charts.dispute_rate_bars(by_method, "method", "By payment method"), key="dispute_rate_method"
        )
        right.plotly_chart(
            charts.dispute_rate_bars(by_network, "card_network", "By card network"),
            key="dispute_rate_network",
        )
