"""Settlements (finance, admin): where the money went from gross to net, every settlement and whether
it adds up to its lines, whether it reached the bank (with the statements' coverage, and an upload of
statements for finance), what is captured but not settled yet (and how old), and the lines of any one."""

import streamlit as st

from dashboard import bank, charts, exports, queries, widgets
from dashboard.auth import require_page
from dashboard.format import count, money, plain
from dashboard.labels import plural, rows
from dashboard.roles import Role
from data.settings import get_settings
from sync.statements import CSV_PRESETS, FORMATS

user = require_page("settlements")
st.title("Settlements")

filters = widgets.filter_bar(method=False, country=False)
query = filters.to_analytics()
st.caption(
    f"{filters.describe()} · settlements (and their lines) by when the settlement was created, in IST days"
)

# The period's settlements; "not settled yet" is every capture still waiting, whatever the period.
read = queries.settlements_page(query)
waterfalls, settlement_rows, pending = read.waterfalls, read.settlements, read.pending
# Counted and summed per currency in SQL: the table lists only the newest settlements.
totals = read.totals
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

# The table, the payout and "not adding up" follow the currency shown in the cards.
if chosen is not None and not settlement_rows.empty:
    settlement_rows = settlement_rows[settlement_rows["currency"] == chosen.currency]
settlement_ids = list(settlement_rows["id"]) if not settlement_rows.empty else []
table_currency = chosen.currency if chosen is not None else None
settlements_total = (
    totals[table_currency].settlements
    if table_currency in totals
    else sum(t.settlements for t in totals.values())  # a count of settlements, not money
)

NAMED = 5  # settlements named in the "not adding up" warning
if chosen is not None:
    chosen_totals = totals.get(chosen.currency)
    mismatched = chosen_totals.not_adding_up if chosen_totals is not None else 0
    payout = chosen_totals.payout if chosen_totals is not None else chosen.net
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
                payout,
                chosen.currency,
                help="What the bank received: Σ settlement amounts (payouts)."
                + (
                    f" The lines add up to {money(chosen.net, chosen.currency)}"
                    f" (difference {money(payout - chosen.net, chosen.currency)})."
                    if payout != chosen.net
                    else " Equal to Σ (credit − debit) of their lines."
                ),
            ),
            widgets.Kpi(
                "Settlements",
                count(chosen.settlements),
                help=f"{plural(chosen.lines, 'line')} settled in the period.",
            ),
            widgets.Kpi(
                "Not adding up",
                count(mismatched),
                help="Settlements whose amount ≠ Σ (credit − debit) of their lines (count).",
                delta_color="inverse",
            ),
        ]
    )
    if mismatched:
        not_adding_up = queries.settlements_not_adding_up(query, chosen.currency, NAMED)
        named = ", ".join(
            f"{plain(row['id'])} ({money(int(row['difference']), chosen.currency)})"
            for row in not_adding_up.to_dict("records")
        )
        more = (
            f" and {count(mismatched - len(not_adding_up))} more" if mismatched > len(not_adding_up) else ""
        )
        st.warning(
            f"Not adding up: {named}{more}. Payout − Σ (credit − debit) of its lines; "
            f"bank payouts {money(payout, chosen.currency)} vs lines {money(chosen.net, chosen.currency)}."
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
if settlement_rows.empty:
    st.caption("No settlements created in this period.")
else:
    widgets.showing(len(settlement_rows), settlements_total, "settlements", which="the newest ")
    shown = widgets.dashes(
        widgets.with_money(settlement_rows, "amount", "lines_net", "difference", "fees", "tax"),
        "utr",
        "status",
    )
    st.dataframe(
        shown,
        column_order=[
            "id",
            "amount_shown",
            "lines_net_shown",
            "difference_shown",
            "created_at",
            "status",
            "lines",
            "fees_shown",
            "tax_shown",
            "utr",
        ],
        column_config={
            "id": "Settlement",
            "created_at": widgets.ist_column("Created (IST)"),
            "status": "Status",
            "utr": "UTR",
            "amount_shown": widgets.money_column("Payout", help="What the bank received."),
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
    widgets.csv_download(
        settlement_rows,
        name="settlements",
        user=user,
        filters=filters,
        total=settlements_total,
        write=exports.rows_writer(
            lambda: queries.settlement_rows(query, table_currency), list(settlement_rows.columns)
        ),
    )

st.subheader("Bank credits")
st.caption(bank.coverage_text(bank.coverage()))
credit_rows = bank.credits()
if credit_rows.empty:
    st.caption("No processed settlement yet.")
else:
    credits_total = bank.credits_total()
    widgets.showing(len(credit_rows), credits_total, "settlements", which="the newest ")
    credits_shown = widgets.dashes(
        widgets.days(widgets.with_money(credit_rows, "amount", "credited_amount"), "credited_on"),
        "bank_line",
        "match_rule",
        "utr",
    )
    st.dataframe(
        credits_shown,
        column_order=[
            "settlement_id",
            "processed_at",
            "amount_shown",
            "status_text",
            "credited_on",
            "credited_amount_shown",
            "bank_line",
            "match_rule",
            "utr",
        ],
        column_config={
            "settlement_id": "Settlement",
            "processed_at": widgets.ist_column("Processed (IST)"),
            "amount_shown": widgets.money_column("Amount"),
            "status_text": st.column_config.TextColumn(
                "Bank status",
                help="Credited, short, twice, ambiguous, not credited by T+1, or not yet known.",
            ),
            "credited_on": st.column_config.TextColumn("Credited on"),
            "credited_amount_shown": widgets.money_column("Credited"),
            "bank_line": st.column_config.TextColumn("Bank line", help="Statement file : line number."),
            "match_rule": st.column_config.TextColumn(
                "Matched by", help="utr, utr_sum, amount_date or sum_date (docs/statements.md)."
            ),
            "utr": "UTR",
        },
        hide_index=True,
        key="bank_credits_table",
    )
    widgets.csv_download(
        credit_rows,
        name="settlement-bank-credits",
        user=user,
        filters=filters,
        total=credits_total,
        write=exports.rows_writer(bank.credit_rows, list(credit_rows.columns)),
    )

if user.role in (Role.FINANCE, Role.ADMIN):
    with st.expander("Import a bank statement"):
        upload_limit = get_settings().statement_upload_max_mb
        uploaded = st.file_uploader(
            "Statement file (CSV, MT940 or camt.053 XML)",
            type=["csv", "txt", "sta", "940", "mt940", "xml"],
            max_upload_size=upload_limit,
            key="statement_upload",
            help=f"At most {upload_limit} MB. Re-importing a file changes nothing.",
        )
        statement_format = st.selectbox("Format", ["detect", *FORMATS], key="statement_format")
        layouts = [*CSV_PRESETS, "custom"]
        configured = get_settings().bank_csv_preset
        preset = st.selectbox(
            "CSV layout",
            layouts,
            index=layouts.index(configured) if configured in layouts else 0,
            key="statement_preset",
        )
        if uploaded is not None and st.button("Import statement", key="statement_import"):
            outcome = bank.upload_statement(
                uploaded.getvalue(),
                file_name=uploaded.name,
                actor=user.name,
                fmt=None if statement_format == "detect" else statement_format,
                preset=preset,
            )
            (st.success if outcome.ok else st.error)(outcome.message)

st.subheader("Captured, not settled yet")
st.caption(
    "Every captured payment with no settlement line yet, as of now (whatever the period), by age since "
    "creation. Razorpay settles in T+2/T+3 working days."
)
if chosen is not None and not pending.empty:
    pending = pending[pending["currency"] == chosen.currency]
if pending.empty:
    st.success("Every captured payment has a settlement line.")
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
    settlement_id = str(picked_id)
    listed = queries.settlement_lines(settlement_id)
    lines = listed.first
    st.caption(f"{rows(listed.total).replace('row', 'line')} in {plain(picked_id)}.")
    widgets.showing(listed.shown, listed.total, "lines")
    shown_lines = widgets.dashes(
        widgets.with_money(lines, "amount", "credit", "debit"), "payment_id", "order_id", "method"
    )
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
    widgets.csv_download(
        lines,
        name=f"settlement-lines-{picked_id}",
        user=user,
        filters=filters,
        total=listed.total,
        write=exports.rows_writer(lambda: queries.settlement_line_rows(settlement_id), list(lines.columns)),
        page="settlements",
    )
