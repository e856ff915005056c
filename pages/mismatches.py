"""Mismatches (finance and admin decide; operations reads): what reconciliation found, by rule, status,
age, amount, method and settlement; a worklist by owner and age (yours first); acting on every filtered
mismatch at once, or exporting them; the explanation and evidence of each; acknowledge or resolve one
with a note (audited)."""

import pandas as pd
import streamlit as st

from analytics.mismatch_bulk import BULK_ACTIONS, BulkConflict, MismatchFilter
from analytics.mismatches import AGE_BUCKETS, STATUSES, allowed_decisions
from dashboard import charts, exports, queries, widgets
from dashboard import mismatch_work as work
from dashboard.auth import require_page
from dashboard.format import count, evidence_for_display, money, plain, razorpay_payment_url
from dashboard.labels import plural, rows
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
widgets.restore_from_url("mismatch_min_age", "min_age", [], int, bounds=(0, 36_500))
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
    amount_from = st.number_input(
        "Amount from (₹)", min_value=0, step=100, value=None, key="mismatch_amount_min"
    )
    amount_to = st.number_input(
        "Amount up to (₹)", min_value=0, step=100, value=None, key="mismatch_amount_max"
    )
    method = st.selectbox(
        "Payment method",
        [None, *queries.filter_options().get("method", [])],
        format_func=lambda m: "Any method" if m is None else str(m),
        key="mismatch_method",
    )
    settlement_id = st.text_input("Settlement id", key="mismatch_settlement").strip() or None
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

# Cards and charts follow the rule filter, like the table (the status filter is what the cards split by).
if rule is not None:
    summary = summary[summary["rule"] == rule]
by_status = summary.groupby("status")["count"].sum()
# Over every unresolved mismatch (a streamed aggregate), not over the rows the table below holds.
breakdown = queries.unresolved_breakdown(rule)
open_ages = breakdown[breakdown["status"] == "open"]["oldest_days"]
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
            f"{int(float(open_ages.max()))} days" if not open_ages.empty else "—",
            help="Age of the oldest open mismatch, from its evidence (e.g. since the refund was processed).",
        ),
    ]
)

if not breakdown.empty:
    by_rule = (
        breakdown.groupby("rule")["count"].sum().sort_values(ascending=False).rename("count").reset_index()
    )
    by_age = (
        breakdown.groupby("age_bucket")["count"]
        .sum()
        .reindex(list(AGE_BUCKETS), fill_value=0)
        .rename("count")
        .rename_axis("age_bucket")
        .reset_index()
    )
    # Full width, bars across: the rule titles are long and must read whole.
    st.plotly_chart(
        charts.count_bars(
            by_rule,
            "rule",
            "count",
            "Unresolved by rule",
            "Mismatches (count)",
            labels=[str(rules.get(r, {}).get("title", r)) for r in by_rule["rule"]],
            horizontal=True,
        ),
        key="mismatch_rules_chart",
        on_select=widgets.select_on_click("mismatch_rules_chart", "mismatch_rule", list(rules)),
        selection_mode="points",
    )
    st.plotly_chart(
        charts.count_bars(
            by_age,
            "age_bucket",
            "count",
            "Unresolved by age",
            "Mismatches (count)",
            x_title="Age (from evidence)",
        ),
        key="mismatch_age_chart",
    )
    stake = breakdown[breakdown["currency"].notna()]
    if not stake.empty:
        per_rule = stake.groupby(["rule", "currency"], as_index=False).agg(
            mismatches=("count", "sum"), at_stake=("at_stake", "sum")
        )
        st.caption("Money at stake per rule: Σ |expected − actual| of unresolved mismatches, per currency.")
        st.dataframe(
            widgets.with_money(
                per_rule.assign(title=[str(rules.get(r, {}).get("title", r)) for r in per_rule["rule"]]),
                "at_stake",
            ),
            column_order=["title", "currency", "mismatches", "at_stake_shown"],
            column_config={
                "title": "Rule",
                "currency": "Currency",
                "mismatches": widgets.count_column("Unresolved"),
                "at_stake_shown": widgets.money_column("Money at stake"),
            },
            hide_index=True,
            key="mismatch_stake_table",
        )

# One filter for the table, the worklist, the bulk actions and the export (age from the evidence).
selection = MismatchFilter(
    rule=rule,
    status=status,
    min_age_days=float(min_age) if min_age else None,
    amount_min=int(amount_from * 100) if amount_from is not None else None,
    amount_max=int(amount_to * 100) if amount_to is not None else None,
    method=method,
    settlement_id=settlement_id,
)
selected = work.selected_ids(selection)
listed = work.filtered(selection)  # the true count, and the newest rows the table shows
found = listed.first

st.subheader("Worklist")
st.caption(
    f"{plural(len(selected), 'mismatch', 'mismatches')} {'matches' if len(selected) == 1 else 'match'} the filter, by owner (yours first) and age since the evidence "
    "began; overdue = past its due date."
)
st.dataframe(
    work.worklist(selection, user.name),
    column_config={
        "owner": "Owner",
        "mine": st.column_config.CheckboxColumn("Mine"),
        "age_bucket": "Age",
        "count": widgets.count_column("Mismatches"),
        "overdue": widgets.count_column("Overdue"),
    },
    hide_index=True,
    key="mismatch_worklist",
)
exports.export_button(
    work.export_writer(selection),
    name="mismatches",
    actor=user.name,
    page="mismatches",
    rows=len(selected),
    detail={"filter": selection.describe(), "readable": True},
    label=f"Prepare CSV of the {rows(len(selected))} filtered (₹ and IST, evidence readable)",
)
if may_decide and selected:
    with st.expander(f"Act on all {count(len(selected))} filtered mismatches"):
        with st.form("mismatch_bulk", clear_on_submit=True):
            bulk_action = st.radio("Action", list(BULK_ACTIONS), horizontal=True, key="mismatch_bulk_action")
            reason = st.selectbox("Reason code", [None, *work.reason_codes()], key="mismatch_bulk_reason")
            assignee = st.text_input("Assign to (for assign)", key="mismatch_bulk_owner").strip() or None
            bulk_note = st.text_area(
                "Note (kept in the audit trail)", max_chars=2000, key="mismatch_bulk_note"
            )
            confirmed = st.form_submit_button("Apply to all of them", type="primary")
        if confirmed and bulk_action is not None:
            try:
                done = work.apply(
                    selection,
                    str(bulk_action),
                    actor=user.name,
                    reason_code=reason,
                    note=bulk_note.strip() or None,
                    owner=assignee,
                )
            except BulkConflict as error:
                st.error(f"Nothing was changed: {error}")
            else:
                st.session_state["mismatch_flash"] = (
                    f"{bulk_action}: {done.count} mismatches, by {user.name}."
                )
                st.rerun()

st.subheader(f"{count(listed.total)} {'mismatch' if listed.total == 1 else 'mismatches'}")
widgets.showing(listed.shown, listed.total, "mismatches (newest first)")
if found.empty:
    st.caption("None match these filters.")
    st.stop()

ids = [int(v) for v in found["id"]]
shown = found.assign(
    rule_title=[str(rules.get(r, {}).get("title", r)) for r in found["rule"]],
    payment_id=[v if isinstance(v, str) and v else "—" for v in found["payment_id"]],
    settlement_id=[v if isinstance(v, str) and v else "—" for v in found["settlement_id"]],
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
# The rule and the money first, so the difference is in view at 1280 px without scrolling sideways.
TABLE_COLUMNS = [
    "id", "rule_title", "expected_shown", "actual_shown", "age_bucket", "status", "severity", "payment_id",
    "settlement_id", "age_days", "first_seen_at", "razorpay",
]  # fmt: skip
st.dataframe(
    shown[TABLE_COLUMNS],  # only what is shown: the evidence dicts stay out of the browser payload
    column_config={
        "id": st.column_config.NumberColumn("#", format="%d"),
        "rule_title": "Rule",
        "age_bucket": "Age bucket",
        "severity": "Severity",
        "status": "Status",
        "age_days": st.column_config.NumberColumn(
            "Age (days)",
            format="%.1f",
            help="From the evidence: since the capture, refund or event it is about.",
        ),
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
st.caption("Its CSV is the filtered export above: every row, not only those shown.")

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
st.markdown(
    f"**{plain(rule_info.get('title', row['rule']))}** · {plain(row['severity'])} · {plain(row['status'])}"
)
st.markdown(plain(row["explanation"]))  # built from Razorpay's values: shown as text, never as markdown
st.caption(f"Usually caused by: {row['usual_cause']}")
with st.expander("Evidence", expanded=True):
    evidence = row["evidence"] if isinstance(row["evidence"], dict) else {"evidence": str(row["evidence"])}
    st.json(evidence_for_display(evidence, row["currency"] if isinstance(row["currency"], str) else None))
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
    # No decision is preselected: after "acknowledge", the next one must be chosen, not defaulted.
    decision = st.radio(
        "Decision",
        allowed_decisions(str(row["status"])),
        index=None,
        horizontal=True,
        key="mismatch_decision_choice",
    )
    note = st.text_area(
        "Note (kept in the audit trail; required to resolve)", max_chars=2000, key="mismatch_note"
    )
    submitted = st.form_submit_button("Record decision", type="primary")
if submitted and decision is None:
    st.warning("Pick a decision first.")
elif submitted and decision == "resolve" and not note.strip():
    st.warning("Resolving needs a note: say what was done (e.g. the ticket, the refund id, the fix).")
elif submitted and decision is not None:
    try:
        queries.decide_mismatch(picked, decision, user.name, note.strip() or None)
    except queries.MismatchError as error:
        st.error(f"Could not record the decision: {error}")
    else:
        st.session_state["mismatch_flash"] = f"Mismatch #{picked}: {decision} recorded by {user.name}."
        st.rerun()
