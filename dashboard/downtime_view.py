"""The Success rates page's *Razorpay downtimes* section: each declared downtime's cost against the
baseline (analytics/downtime_impact.py), its chart with the downtime as a band, and the dips no declared
downtime explains (where a manager must act)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import streamlit as st

from analytics.downtime_impact import DowntimeImpact, UndeclaredDip
from dashboard import charts, queries
from dashboard.filters import FilterState
from dashboard.format import count, money, percent
from dashboard.labels import plural
from data.ist import IST

__all__ = ["dip_sentence", "downtime_section", "impact_label", "impact_sentence"]

_METHOD_WORDS = {"netbanking": "netbanking", "card": "card", "upi": "UPI", "wallet": "wallet", "emi": "EMI"}


def _md(text: str) -> str:
    """An outside value (bank code, UPI handle) shown as text: markdown's inline markers escaped ($ would
    be LaTeX, :x: an emoji). Applied to those values only, so the sentences around them stay readable."""
    return "".join("\\" + ch if ch in "\\`*_[]<>|~$:" else ch for ch in text)


def _money(minor: int, currency: str) -> str:
    return money(minor, currency).replace("$", "\\$")  # markdown: not LaTeX


def impact_label(impact: DowntimeImpact) -> str:
    """'HDFC netbanking', 'RuPay debit card', 'ybl UPI'."""
    method = _METHOD_WORDS.get(impact.method or "", impact.method or "all methods")
    return " ".join([*(_md(value) for value in impact.instrument.values()), _md(method)])


def _ist_span(begin: datetime, end: datetime | None) -> str:
    first = begin.astimezone(IST)
    if end is None:
        return f"{first:%d %b %H:%M} IST – ongoing"
    last = end.astimezone(IST)
    if first.date() == last.date():
        return f"{first:%d %b %H:%M}–{last:%H:%M} IST"
    return f"{first:%d %b %H:%M} – {last:%d %b %H:%M} IST"


def impact_sentence(impact: DowntimeImpact) -> str:
    """'₹2,500.00 likely lost during HDFC netbanking downtime, 24 Nov 14:02–14:47 IST' (per currency)."""
    span = _ist_span(impact.begin, impact.end)
    label = impact_label(impact)
    if impact.likely_lost:
        lost = " and ".join(_money(value, currency) for currency, value in sorted(impact.likely_lost.items()))
        return f"{lost} likely lost during {label} downtime, {span}"
    return f"Nothing beyond the usual failures during {label} downtime, {span}"


def _detail(impact: DowntimeImpact) -> str:
    parts = [
        f"{count(impact.failures)} of {plural(impact.attempts, 'attempt')} failed "
        f"(success {percent(impact.rate)})"
    ]
    if impact.expected_failures is not None:
        parts.append(
            f"the baseline ({percent(impact.baseline_rate)}, same hours of the previous "
            f"{plural(impact.baseline_weeks, 'week')}, {plural(impact.baseline_attempts, 'attempt')}) predicts "
            f"{impact.expected_failures:,.1f} failures: {count(impact.excess_failures)} in excess"
        )
    else:
        parts.append("no baseline traffic in the same hours of previous weeks")
    if impact.failed_value:
        failed = " and ".join(_money(v, c) for c, v in sorted(impact.failed_value.items()))
        parts.append(f"{failed} failed in all")
    declared = f"{impact.declared_at.astimezone(IST):%H:%M} IST"
    if impact.drop_before_declared:
        parts.append(
            f"**the drop started before Razorpay declared it** at {declared} "
            f"({plural(impact.failures_before_declared, 'failure')} from "
            f"{impact.begin.astimezone(IST):%H:%M}, {impact.expected_before_declared or 0:,.1f} expected)"
        )
    else:
        parts.append(f"declared at {declared}, no excess failures before that")
    return "; ".join(parts) + "."


def dip_sentence(dip: UndeclaredDip) -> str:
    what = " · ".join(f"{_md(name)} {_md(value)}" for name, value in dip.slice.items())
    return (
        f"Dip with no declared downtime: {what}, {_ist_span(dip.start, dip.end)}: success "
        f"{percent(dip.rate)} of {plural(dip.attempts, 'attempt')} against {percent(dip.baseline_rate)} "
        "usually — likely the merchant's side, or an outage Razorpay did not announce"
    )


def downtime_section(filters: FilterState) -> None:
    start, end = filters.to_analytics().utc_range()
    now = queries.now().replace(second=0, microsecond=0)
    start = start or now - timedelta(days=30)
    end = min(end or now, now)
    impacts = queries.downtime_impact(start, end, now)
    dips = queries.undeclared_dips(start, end)
    st.subheader("Razorpay downtimes")
    st.caption(
        "Downtimes Razorpay declared (API and payment.downtime webhooks). *Likely lost* = the value that "
        "failed beyond what the instrument's usual success rate (same hours, previous 4 weeks) predicts, "
        "per currency. Dips are the success-drop alerts no declared downtime covers."
    )
    if not impacts and not dips:
        st.caption("No declared downtime and no undeclared dip in this period.")
        return
    for impact in impacts:
        st.markdown(f"**{impact_sentence(impact)}**")
        st.markdown(_detail(impact))
        end_at = impact.window_end
        hourly = queries.downtime_hourly(
            impact.method, tuple(sorted(impact.instrument.items())), impact.begin, end_at
        )
        if not hourly.empty:
            hourly = hourly.assign(hour=[pd.Timestamp(h).tz_convert(IST) for h in hourly["hour"]])
        st.plotly_chart(
            charts.downtime_rate(
                hourly,
                pd.Timestamp(impact.begin.astimezone(UTC)).tz_convert(IST),
                pd.Timestamp(end_at.astimezone(UTC)).tz_convert(IST),
                impact_label(impact),
                title=f"{impact_label(impact)}: hourly success rate",
            ),
            key=f"downtime_chart_{impact.id}",
        )
    for dip in dips:
        st.warning(dip_sentence(dip))
