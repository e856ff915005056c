"""Risk (managers, finance, admin): fraud and risk signals of the last day — card-testing bursts,
velocity outliers, the international share rising, disputes near their respond-by date — each with its evidence and the payments behind it.
Signals are for a person to judge: payops never blocks or refunds anything."""

import pandas as pd
import streamlit as st

from analytics.risk import SIGNAL_KINDS
from dashboard import queries, widgets
from dashboard.auth import require_page
from dashboard.format import count, mask_email, mask_phone
from dashboard.risk_view import dispute_rate_section
from dashboard.roles import sees_contact_details

user = require_page("risk")
st.title("Risk")
st.caption(
    "Signals over the last 24 hours (thresholds in docs/alerts.md, *Risk signals*). They flag payments for a "
    "person to look at; nothing is blocked, refunded or reported to Razorpay."
)

dispute_rate_section()
signals = queries.risk_signals()
if not signals:
    widgets.empty_state(
        "No risk signal in the last 24 hours.",
        "Signals appear as payments arrive (`python -m sync run`); thresholds are settings (`RISK__…`).",
    )
    st.stop()

# A fraud alert links here with its signal's kind (`risk?kind=card_testing`).
widgets.restore_from_url("risk_kind", "kind", list(SIGNAL_KINDS))
with st.sidebar:
    st.subheader("Filters")
    kind = st.selectbox(
        "Signal",
        [None, *SIGNAL_KINDS],
        format_func=lambda k: "All signals" if k is None else SIGNAL_KINDS[k].split(":")[0],
        key="risk_kind",
    )
widgets.keep_in_url("kind", kind)
if kind is not None:
    signals = [signal for signal in signals if signal["kind"] == kind]
    if not signals:
        widgets.empty_state(
            f"No {SIGNAL_KINDS[kind].split(':')[0].lower()} signal in the last 24 hours.",
            "Choose *All signals* in the sidebar to see the others.",
        )
        st.stop()

show_contact = sees_contact_details(user.role)


def shown_subject(subject: str) -> str:
    kind, _, value = subject.partition(":")
    if show_contact or kind not in ("email", "contact"):
        return subject
    masked = mask_email(value) if kind == "email" else mask_phone(value)
    return f"{kind}:{masked}"


frame = pd.DataFrame(
    [
        {
            "kind": signal["kind"],
            "subject": shown_subject(str(signal["subject"])),
            "title": signal["title"],
            "payments": signal["payments"],  # the true count, even where payment_ids lists the first only
        }
        for signal in signals
    ]
)
by_kind = frame["kind"].value_counts()
widgets.kpi_row(
    [
        widgets.Kpi("Card testing", count(int(by_kind.get("card_testing", 0))), help="Bursts (count)."),
        widgets.Kpi("Velocity", count(int(by_kind.get("velocity", 0))), help="Identities over a threshold."),
        widgets.Kpi("International share", "rising" if by_kind.get("international_share", 0) else "steady"),
        widgets.Kpi(
            "Disputes due",
            count(int(by_kind.get("dispute_respond_by", 0))),
            help="Currencies with disputes due.",
        ),
    ]
)
st.dataframe(
    frame,
    column_config={
        "kind": "Signal",
        "subject": "About",
        "title": "What",
        "payments": widgets.count_column("Payments"),
    },
    hide_index=True,
    key="risk_signals",
    on_select=widgets.select_on_click(
        "risk_signals", "risk_pick", list(range(len(frame))), rows=list(range(len(frame)))
    ),
    selection_mode="single-row",
)

st.subheader("Evidence")
positions = list(range(len(signals)))
picked = widgets.drill_selector(
    "Signal (or pick a row above)",
    positions,
    key="risk_pick",
    format_func=lambda i: f"{frame['title'][i]} · {frame['subject'][i]}",
)
if picked is None:
    st.stop()
signal = signals[picked]
st.write(str(signal["explanation"]))
with st.expander("Evidence"):
    st.json(signal["evidence"])
if signal["payment_ids"]:
    listed = tuple(signal["payment_ids"])
    # Unconfirmed captures can run to thousands: the signal lists the first, the CSV streams them all.
    every_payment = (
        queries.unconfirmed_capture_rows
        if signal["kind"] == "unconfirmed_capture"
        else lambda: queries.signal_payment_rows(listed)
    )
    widgets.payments_table(
        queries.signal_payments(listed),
        name=f"risk-{signal['kind']}-payments",
        user=user,
        total=int(signal["payments"]),
        all_rows=every_payment,
    )
