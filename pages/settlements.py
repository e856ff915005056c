"""Settlements (finance, admin): where the money went from gross to net, every settlement and whether
it adds up to its lines, what is captured but not settled yet (and how old), and the lines of any one."""

import streamlit as st

from dashboard import charts, queries, widgets
from dashboard.auth import require_page
from dashboard.format import count, money

user = require_page("settlements")
st.title("Settlements")

filters = widgets.filter_bar(method=False, country=False)
query = filters.to_analytics()
st.caption(
    f"{filters.describe()} · settlements (and their lines) by when the settlement was created, in IST days"
)

waterfalls = queries.settlement_waterfalls(query)
settlement_rows = queries.settlements(query)
pending = queries.pending_settlement(query)
if not waterfalls and settlement_rows.empty and pending.empty:
    widgets.empty_state(
        "No settlements or captured payments in this period.",
        "Run `python -m sync run` to fetch settlements and the settlement recon report, or widen the period.",
    )
    st.stop()

# One currency at a time (never summed across); INR, the settlement currency of an Indian account, first.
currencies = sorted((w.currency for w in waterfalls), key=lambda c: (c != "INR", c))
chosen = next((w for w in waterfalls if w.currency == currencies[0]), None) if waterfalls else None
if len(waterfalls) > 1:
    picked = st.segmented_control("Currency", currencies, default=currencies[0], key="settlement_currency")
    chosen = next((w for w in waterfalls if w.currency == picked), chosen)

if chosen is not None:
    mismatched = int((settlement_rows["difference"] != 0).sum()) if not settlement_rows.empty else 0
    widgets.kpi_row(
        [
            widgets.money_kpi("Gross settled", chosen.gross, chosen.currency, help="Σ payment-line amounts."),
            widgets.money_kpi(
                "Fees + tax",
                chosen.fees + chosen.tax,
                chosen.currency,
                help="Razorpay's fee (excl. GST) plus GST on it, over all lines.",
            ),
            widgets.money_kpi("Refunds", chosen.refunds, chosen.currency, help="Σ refund-line debits."),
            widgets.money_kpi(
                "Net settled",
                chosen.net,
                chosen.currency,
                help="Σ (credit − debit) over all settled lines.",
            ),
            widgets.Kpi(
                "Settlements",
                count(chosen.settlements),
                help=f"{count(chosen.lines)} lines settled in the period.",
            ),
            widgets.Kpi(
                "Not adding up",
                count(mismatched),
                help="Settlements whose amount ≠ Σ (credit − debit) of their lines (count).",
                delta_color="inverse",
            ),
        ]
    )
    if chosen.unexplained:
        st.warning(
            f"The lines do not add up: {money(chosen.unexplained, chosen.currency)} is not explained by "
            "fees, tax, refunds or adjustments. See Mismatches."
        )
    st.plotly_chart(charts.settlement_waterfall(chosen.steps(), chosen.currency), key="settlement_waterfall")
else:
    st.info("No settled lines in this period yet; captured payments waiting for settlement are below.")

st.subheader("Settlements")
settlement_ids = list(settlement_rows["id"]) if not settlement_rows.empty else []
if settlement_rows.empty:
    st.caption("No settlements created in this period.")
else:
    shown = widgets.with_money(settlement_rows, "amount", "lines_net", "difference", "fees", "tax")
    st.dataframe(
        shown,
        column_order=[
            "id",
            "created_at",
            "status",
            "utr",
            "amount_shown",
            "fees_shown",
            "tax_shown",
            "lines",
            "lines_net_shown",
            "difference_shown",
        ],
        column_config={
            "id": "Settlement",
            "created_at": widgets.ist_column("Created (IST)"),
            "status": "Status",
            "utr": "UTR",
            "amount_shown": widgets.money_column("Amount"),
            "fees_shown": widgets.money_column("Fees"),
            "tax_shown": widgets.money_column("Tax"),
            "lines": widgets.count_column("Lines"),
            "lines_net_shown": widgets.money_column("Lines net", help="Σ (credit − debit) of its lines."),
            "difference_shown": widgets.money_column(
                "Difference", help="Amount − lines net; should be zero."
            ),
        },
        hide_index=True,
        key="settlements_table",
        on_select=widgets.select_on_click(
            "settlements_table", "settlement_drill", settlement_ids, rows=settlement_ids
        ),
        selection_mode="single-row",
    )
    widgets.csv_download(settlement_rows, name="settlements", user=user, filters=filters)

st.subheader("Captured, not settled yet")
st.caption(
    "Captured payments with no settlement line yet, by age since creation. Razorpay settles in T+2/T+3 working days."
)
if pending.empty:
    st.success("Every captured payment in this period has a settlement line.")
else:
    st.dataframe(
        widgets.with_money(pending, "amount"),
        column_order=["currency", "age", "payments", "amount_shown"],
        column_config={
            "currency": "Currency",
            "age": "Age",
            "payments": widgets.count_column("Payments"),
            "amount_shown": widgets.money_column("Amount"),
        },
        hide_index=True,
        key="pending_table",
    )
    widgets.csv_download(pending, name="pending-settlement", user=user, filters=filters)

st.subheader("Lines of a settlement")
picked_id = widgets.drill_selector(
    "Show the lines of settlement (or pick a row above)",
    settlement_ids,
    key="settlement_drill",
)
if picked_id is not None:
    lines = queries.settlement_lines(picked_id)
    shown_lines = widgets.with_money(lines, "amount", "credit", "debit")
    st.dataframe(
        shown_lines,
        column_order=[
            "entity_id",
            "type",
            "payment_id",
            "order_id",
            "amount_shown",
            "credit_shown",
            "debit_shown",
            "settled_at",
            "method",
        ],
        column_config={
            "entity_id": "Entity",
            "type": "Type",
            "payment_id": "Payment",
            "order_id": "Order",
            "amount_shown": widgets.money_column("Amount"),
            "credit_shown": widgets.money_column("Credit"),
            "debit_shown": widgets.money_column("Debit"),
            "settled_at": widgets.ist_column("Settled (IST)"),
            "method": "Method",
        },
        hide_index=True,
        key="settlement_lines_table",
    )
    widgets.csv_download(lines, name=f"settlement-lines-{picked_id}", user=user, filters=filters)
