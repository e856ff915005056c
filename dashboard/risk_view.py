"""The Risk page's dispute-rate block: how often payments are disputed, by method and card network, over
the last 30 IST days (analytics/disputes.py; the open disputes near their respond-by date are a signal)."""

from __future__ import annotations

import streamlit as st

from analytics.filters import last_n_days
from dashboard import queries, widgets

__all__ = ["DISPUTE_RATE_DAYS", "dispute_rate_section"]

DISPUTE_RATE_DAYS = 30


def dispute_rate_section() -> None:
    filters = last_n_days(DISPUTE_RATE_DAYS, now=queries.now())
    with st.expander(f"Dispute rate, last {DISPUTE_RATE_DAYS} days", expanded=False):
        st.caption("Payments disputed ÷ successful payments, both of payments created in the period.")
        config = {
            "successes": widgets.count_column("Successful"),
            "disputed": widgets.count_column("Disputed"),
            "rate": widgets.percent_column("Dispute rate"),
        }
        left, right = st.columns(2)
        left.dataframe(
            queries.dispute_rates("method", filters),
            column_config={"method": "Method", **config},
            hide_index=True,
            key="risk_dispute_rate_method",
        )
        right.dataframe(
            queries.dispute_rates("card_network", filters),
            column_config={"card_network": "Card network", **config},
            hide_index=True,
            key="risk_dispute_rate_network",
        )
