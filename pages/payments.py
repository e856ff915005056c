"""Payments (finance, operations, admin): find a payment by its id, its order, refund or settlement id,
an email or a phone; then its whole story — API states, webhooks received (with lag), refunds, its
settlement line and settlement, and any mismatches."""

import streamlit as st

from dashboard import exports, queries, widgets
from dashboard.auth import require_page
from dashboard.format import (
    count,
    duration_ms,
    ist,
    mask_email,
    mask_phone,
    money,
    plain,
    razorpay_payment_url,
)
from dashboard.labels import reason_text
from dashboard.roles import sees_contact_details

user = require_page("payments")
st.title("Payments")

widgets.restore_from_url("payment_search", "q", [])
search = st.text_input(
    "Search",
    key="payment_search",
    placeholder="pay_…, order_…, rfnd_…, setl_…, an email or a phone number",
    help="Exact match. A phone number matches with or without its +91 prefix.",
).strip()
widgets.keep_in_url("q", search or None)

if not search:
    st.info(
        "Type a payment, order, refund or settlement id, an email or a phone number. "
        "Payments behind any chart are also one click away on the other pages.",
        icon=":material/search:",
    )
    st.stop()

found = queries.find_payments(search)
matches = found.first
if not search.startswith(("pay_", "order_", "rfnd_", "setl_")):
    # Not a Razorpay id, so a person looked up by email or phone: recorded (who, the term, matches).
    kind = "phone" if search.lstrip("+").replace(" ", "").isdigit() else "email"
    exports.audit_search(user.name, "payments", search, kind, found.total)
if matches.empty:
    widgets.empty_state(
        f"No payment matches {plain(search)}.",
        "Check the id, or run `python -m sync run` if the payment is newer than the last sync (see Sync status).",
    )
    st.stop()

st.caption(f"{count(found.total)} {'payment matches' if found.total == 1 else 'payments match'}")
ids = [str(v) for v in matches["id"]]
widgets.payments_table(
    matches,
    name="payment-search",
    user=user,
    total=found.total,
    all_rows=lambda: queries.found_payment_rows(search),
    on_row_click=widgets.select_on_click("table_payment-search", "payment_pick", ids, rows=ids),
)
payment_id = (
    ids[0]
    if len(ids) == 1
    else widgets.drill_selector(
        "Open payment (or pick a row above)",
        ids,
        key="payment_pick",
    )
)
if payment_id is None:
    st.stop()

story = queries.payment_story(payment_id)
if story is None:
    st.error(f"{plain(payment_id)} disappeared while you looked; refresh the page.")
    st.stop()

payment = story.payment
show_contact = sees_contact_details(user.role)
st.subheader(f"{plain(payment_id)} · {plain(payment['status'])}")
st.link_button(
    "Open in Razorpay's dashboard", razorpay_payment_url(payment_id), icon=":material/open_in_new:"
)
widgets.kpi_row(
    [
        widgets.money_kpi(
            "Amount",
            int(payment["amount"]),
            str(payment["currency"]),
            help="As charged, in its own currency.",
        ),
        widgets.money_kpi(
            "Refunded",
            int(payment["amount_refunded"] or 0),
            str(payment["currency"]),
            help="As Razorpay reports it: every refund created, including ones still pending (see Refunds).",
        ),
        widgets.Kpi(
            "Fee (incl. GST)",
            money(int(payment["fee"]), str(payment["currency"])) if payment["fee"] is not None else "—",
            help="Razorpay's fee for this payment; GST is part of it.",
        ),
        widgets.Kpi("Status", str(payment["status"]), help=f"Latest state, seen {ist(payment['state_at'])}."),
    ]
)
# Every value from Razorpay (or a buyer: emails are typed by them) is escaped: plain text, never markdown.
st.markdown(
    f"**Created** {ist(payment['created_at'])} · **Method** {plain(payment['method'])} · "
    f"**Country** {plain(payment['country'] or 'unknown')} (from {plain(payment['country_source'])}) · "
    f"**Order** {plain(payment['order_id'])} · "
    f"**Email** {plain(payment['email'] if show_contact else mask_email(payment['email']))} · "
    f"**Phone** {plain(payment['contact'] if show_contact else mask_phone(payment['contact']))}"
)
if payment["status"] == "failed":
    st.warning(
        f"Failed at {plain(payment['error_source'] or '?')} → {plain(payment['error_step'] or '?')}: "
        f"{plain(reason_text(payment['error_reason']))} — {plain(payment['error_description'] or '')}"
    )

st.subheader("Timeline")
st.dataframe(
    story.timeline,
    column_config={
        "at": widgets.ist_column("When (IST)"),
        "what": "What",
        "detail": "Detail",
        "source": st.column_config.TextColumn(
            "Seen through", help="api = fetched by the sync; webhook = pushed by Razorpay"
        ),
    },
    hide_index=True,
    key="payment_timeline",
)
widgets.csv_download(story.timeline, name=f"payment-timeline-{payment_id}", user=user)

st.subheader("Webhooks received")
if story.webhook_events.empty:
    st.caption("No webhook events for this payment (Webhook health lists the ones that should have come).")
else:
    events = story.webhook_events.assign(lag=[duration_ms(v) for v in story.webhook_events["lag_ms"]])
    st.dataframe(
        events,
        column_order=[
            "event_type",
            "entity_status",
            "created_at",
            "received_at",
            "lag",
            "delivery_count",
            "applied",
            "event_id",
        ],
        column_config={
            "event_type": "Event",
            "entity_status": "Status in payload",
            "created_at": widgets.ist_column("Created (IST)"),
            "received_at": widgets.ist_column("Received (IST)"),
            "lag": st.column_config.TextColumn("Lag", help="Received − created"),
            "delivery_count": widgets.count_column("Deliveries"),
            "applied": st.column_config.CheckboxColumn("Applied"),
            "event_id": "Event id",
        },
        hide_index=True,
        key="payment_events",
    )
    widgets.csv_download(story.webhook_events, name=f"payment-webhooks-{payment_id}", user=user)

st.subheader("Refunds")
if story.refunds.empty:
    st.caption("No refunds.")
else:
    st.dataframe(
        widgets.with_money(story.refunds, "amount"),
        column_order=["id", "amount_shown", "status", "created_at"],
        column_config={
            "id": "Refund",
            "status": "Status",
            "amount_shown": widgets.money_column("Amount"),
            "created_at": widgets.ist_column("Created (IST)"),
        },
        hide_index=True,
        key="payment_refunds",
    )
    widgets.csv_download(story.refunds, name=f"payment-refunds-{payment_id}", user=user)

st.subheader("Settlement")
if story.settlement_lines.empty:
    st.caption("No settlement line yet. Razorpay settles captured payments in T+2/T+3 working days.")
else:
    st.dataframe(
        widgets.with_money(story.settlement_lines, "amount", "fee", "credit", "debit"),
        column_order=[
            "entity_id",
            "type",
            "amount_shown",
            "fee_shown",
            "credit_shown",
            "debit_shown",
            "settlement_id",
            "settled_at",
        ],
        column_config={
            "entity_id": "Line",
            "type": "Type",
            "amount_shown": widgets.money_column("Amount"),
            "fee_shown": widgets.money_column("Fee"),
            "credit_shown": widgets.money_column("Credit"),
            "debit_shown": widgets.money_column("Debit"),
            "settlement_id": "Settlement",
            "settled_at": widgets.ist_column("Settled (IST)"),
        },
        hide_index=True,
        key="payment_lines",
    )
    widgets.csv_download(story.settlement_lines, name=f"payment-settlement-lines-{payment_id}", user=user)
    if not story.settlements.empty:
        st.dataframe(
            widgets.with_money(story.settlements, "amount"),
            column_order=["id", "status", "amount_shown", "utr", "created_at"],
            column_config={
                "id": "Settlement",
                "amount_shown": widgets.money_column("Settlement amount"),
                "utr": "UTR",
                "created_at": widgets.ist_column("Created (IST)"),
            },
            hide_index=True,
            key="payment_settlements",
        )
        widgets.csv_download(story.settlements, name=f"payment-settlements-{payment_id}", user=user)

st.subheader("Mismatches")
if story.mismatches.empty:
    st.caption("Reconciliation found nothing wrong with this payment.")
else:
    st.dataframe(
        story.mismatches,
        column_config=widgets.labelled(
            story.mismatches,
            {
                "id": st.column_config.NumberColumn("#", format="%d"),
                "first_seen_at": widgets.ist_column("First seen (IST)"),
            },
        ),
        hide_index=True,
        key="payment_mismatches",
    )
    widgets.csv_download(story.mismatches, name=f"payment-mismatches-{payment_id}", user=user)
