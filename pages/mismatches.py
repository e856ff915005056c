"""Mismatches (finance and admin decide; operations reads): what reconciliation found, by rule, status
and age; the explanation and evidence of each; acknowledge or resolve it with a note (audited)."""

import pandas as pd
import streamlit as st

from analytics.mismatches import STATUSES, allowed_decisions
from dashboard import charts, queries, widgets
from dashboard.auth import require_page
from dashboard.format import count, money, razorpay_payment_url
from dashboard.roles import can_decide_mismatches

user = require_page("mismatches")
may_decide = can_decide_mismatches(user.role)
st.title("Mismatches")
st.caption(
    "Found by `python -m analytics reconcile`. Each names its rule, its evidence and what usually causes it."
    + ("" if may_decide else " Read-only for your role: finance decides.")
)

if flash := st.session_state.pop("mismatch_flash", None):
    st.success(flash)

rules = queries.rule_catalogue()
widgets.restore_from_url("mismatch_rule", "rule", list(rules))
widgets.restore_from_url("mismatch_status", "status", list(STATUSES))
widgets.restore_from_url("mismatch_min_age", "min_age", [], int)
with st.sidebar:
    st.subheader("Filters")
    rule = st.selectbox(
        "Rule",
        [None, *rules],
        format_func=lambda r: "All rules" if r is None else str(rules[r]["title"]),
        key="mismatch_rule",
    )
    status = st.selectbox(
        "Status",
        [None, *STATUSES],
        format_func=lambda s: "Any status" if s is None else s,
        key="mismatch_status",
    )
    min_age = int(st.number_input("At least this many days old", min_value=0, step=1, key="mismatch_min_age"))
widgets.keep_in_url("rule", rule)
widgets.keep_in_url("status", status)
widgets.keep_in_url("min_age", min_age, 0)

summary = queries.mismatch_summary()
if summary.empty:
    widgets.empty_state(
        "No mismatches recorded.",
        "Run `python -m analytics reconcile` after a sync (`python -m sync run`) to check every rule.",
    )
    st.stop()

by_status = summary.groupby("status")["count"].sum()
open_rows = summary[summary["status"] == "open"]
widgets.kpi_row(
    [
        widgets.Kpi(
            "Open", count(int(by_status.get("open", 0))), help="Detected, nobody has looked yet (count)."
        ),
        widgets.Kpi(
            "Acknowledged", count(int(by_status.get("acknowledged", 0))), help="Someone is on it (count)."
        ),
        widgets.Kpi(
            "Resolved",
            count(int(by_status.get("resolved", 0))),
            help="Resolved by a person or automatically.",
        ),
        widgets.Kpi(
            "Oldest open",
            f"{float(open_rows['oldest_age_days'].max()):.1f} days" if not open_rows.empty else "—",
            help="Days since the oldest open mismatch was first seen.",
        ),
    ]
)

unresolved = (
    summary[summary["status"] != "resolved"]
    .groupby("rule")["count"]
    .sum()
    .sort_values(ascending=False)
    .reset_index()
)
unresolved = unresolved[unresolved["count"] > 0]
if not unresolved.empty:
    st.plotly_chart(
        charts.count_bars(
            unresolved,
            "rule",
            "count",
            "Unresolved by rule",
            "Mismatches (count)",
        ),
        key="mismatch_rules_chart",
        on_select=widgets.select_on_click("mismatch_rules_chart", "mismatch_rule", list(rules)),
        selection_mode="points",
    )

found = queries.mismatches(rule=rule, status=status)
found = found[found["age_days"] >= min_age] if not found.empty else found
st.subheader(f"{count(len(found))} mismatches")
if found.empty:
    st.caption("None match these filters.")
    st.stop()

ids = [int(v) for v in found["id"]]
shown = found.assign(
    expected_shown=[
        money(int(v), str(c)) if pd.notna(v) and c else "—"
        for v, c in zip(found["expected_amount"], found["currency"], strict=True)
    ],
    actual_shown=[
        money(int(v), str(c)) if pd.notna(v) and c else "—"
        for v, c in zip(found["actual_amount"], found["currency"], strict=True)
    ],
    razorpay=pd.Series(
        [razorpay_payment_url(p) if isinstance(p, str) and p else None for p in found["payment_id"]],
        index=found.index,
        dtype="object",
    ),
)
TABLE_COLUMNS = [
    "id", "rule", "severity", "status", "age_days", "payment_id", "settlement_id",
    "expected_shown", "actual_shown", "first_seen_at", "razorpay",
]  # fmt: skip
st.dataframe(
    shown[TABLE_COLUMNS],  # only what is shown: the evidence dicts stay out of the browser payload
    column_config={
        "id": st.column_config.NumberColumn("#", format="%d"),
        "rule": "Rule",
        "severity": "Severity",
        "status": "Status",
        "age_days": st.column_config.NumberColumn("Age (days)", format="%.1f"),
        "payment_id": "Payment",
        "settlement_id": "Settlement",
        "expected_shown": widgets.money_column("Expected"),
        "actual_shown": widgets.money_column("Actual"),
        "first_seen_at": widgets.ist_column("First seen (IST)"),
        "razorpay": widgets.payment_link_column(),
    },
    hide_index=True,
    key="mismatch_table",
    on_select=widgets.select_on_click("mismatch_table", "mismatch_pick", ids, rows=ids),
    selection_mode="single-row",
)
widgets.csv_download(found.drop(columns=["evidence"]), name="mismatches", user=user)

st.subheader("Details")
rule_of = dict(zip(ids, map(str, found["rule"]), strict=True))
picked = widgets.drill_selector(
    "Mismatch (or pick a row above)",
    ids,
    key="mismatch_pick",
    format_func=lambda i: f"#{i} {rule_of[i]}",
)
if picked is None:
    st.stop()

row = found[found["id"] == picked].iloc[0]
rule_info = rules.get(str(row["rule"]), {})
st.markdown(f"**{rule_info.get('title', row['rule'])}** · {row['severity']} · {row['status']}")
st.write(str(row["explanation"]))
st.caption(f"Usually caused by: {row['usual_cause']}")
with st.expander("Evidence", expanded=True):
    st.json(row["evidence"] if isinstance(row["evidence"], dict) else {"evidence": str(row["evidence"])})
history = queries.mismatch_history(picked)
st.dataframe(
    history,
    column_config={
        "at": widgets.ist_column("When (IST)"),
        "actor": "Who",
        "action": "Action",
        "note": "Note",
    },
    hide_index=True,
    key="mismatch_history",
)
widgets.csv_download(history, name=f"mismatch-{picked}-history", user=user)

if not may_decide:
    st.caption("Acknowledging and resolving is for finance and admin.")
    st.stop()

with st.form("mismatch_decision", clear_on_submit=True):
    decision = st.radio(
        "Decision", allowed_decisions(str(row["status"])), horizontal=True, key="mismatch_decision_choice"
    )
    note = st.text_area("Note (kept in the audit trail)", max_chars=2000, key="mismatch_note")
    submitted = st.form_submit_button("Record decision", type="primary")
if submitted and decision is not None:
    try:
        queries.decide_mismatch(picked, decision, user.name, note.strip() or None)
    except queries.MismatchError as error:
        st.error(f"Could not record the decision: {error}")
    else:
        st.session_state["mismatch_flash"] = f"Mismatch #{picked}: {decision} recorded by {user.name}."
        st.rerun()
