"""Alerts (operations, managers, admin; finance sees the money ones): what is firing now, most severe
first, then the history; each alert's numbers, a link to the page and filters that show it, the payments
behind a success-rate drop, and acknowledge / snooze (audited)."""

from datetime import UTC, datetime, timedelta

import pandas as pd
import streamlit as st

from dashboard import exports, queries, widgets
from dashboard.auth import require_page
from dashboard.format import count, plain
from dashboard.roles import alert_categories

user = require_page("alerts")
st.title("Alerts")
categories = alert_categories(user.role)
st.caption(
    "Evaluated by `python -m analytics alerts evaluate` after every sync. An alert resolves by itself when "
    "its condition clears." + (" Your role sees the money alerts." if categories else "")
)
if flash := st.session_state.pop("alert_flash", None):
    st.success(flash)

found = queries.alerts(categories)
counted = queries.alert_counts(categories)
if found.empty:
    widgets.empty_state(
        "No alerts so far.",
        "Alerts appear after `python -m sync run` (which evaluates them) or `python -m analytics alerts evaluate`.",
    )
    st.stop()

# The cards count every alert in SQL; the tables list the first `ALERTS_LISTED` (firing first).
firing = found[found["status"] == "firing"]
widgets.kpi_row(
    [
        widgets.Kpi("Firing", count(counted["firing"]), help="Conditions that hold now (count)."),
        widgets.Kpi(
            "Acknowledged", count(counted["acknowledged"]), help="Firing, and someone said they are on it."
        ),
        widgets.Kpi(
            "Snoozed", count(counted["snoozed"]), help="Firing, notifications paused until the snooze ends."
        ),
        widgets.Kpi("Resolved", count(counted["resolved"]), help="Past episodes (count)."),
    ]
)
widgets.showing(len(found), counted["total"], "alerts")

COLUMNS = {
    "id": st.column_config.NumberColumn("#", format="%d"),
    "severity": "Severity",
    "title": "Alert",
    "first_fired_at": widgets.ist_column("Since (IST)"),
    "last_seen_at": widgets.ist_column("Last seen (IST)"),
    "resolved_at": widgets.ist_column("Resolved (IST)"),
    "acknowledged_by": "Acknowledged by",
    "snoozed_until": st.column_config.TextColumn("Snoozed until (IST)"),
    "link": st.column_config.LinkColumn("Shown on", display_text="open view"),
}
st.subheader(f"Firing now ({count(counted['firing'])})")
if firing.empty:
    st.caption("Nothing is firing.")
else:
    st.dataframe(
        widgets.moments(widgets.dashes(firing, "acknowledged_by"), "snoozed_until"),
        column_order=[c for c in COLUMNS if c != "resolved_at"],
        column_config=COLUMNS,
        hide_index=True,
        key="alerts_firing",
        on_select=widgets.select_on_click(
            "alerts_firing", "alert_pick", [int(v) for v in firing["id"]], rows=[int(v) for v in firing["id"]]
        ),
        selection_mode="single-row",
    )
history = found[found["status"] == "resolved"]
with st.expander(f"History ({count(counted['resolved'])} resolved)", expanded=firing.empty):
    st.dataframe(
        widgets.dashes(history, "acknowledged_by"),
        column_order=[c for c in COLUMNS if c not in ("snoozed_until",)],
        column_config=COLUMNS,
        hide_index=True,
        key="alerts_history",
    )
listed_columns = found.drop(columns=["evidence"])
widgets.csv_download(
    listed_columns,
    name="alerts",
    user=user,
    total=counted["total"],
    write=exports.rows_writer(lambda: queries.alert_rows(categories), list(listed_columns.columns)),
)

st.subheader("Details")
# A link (?alert=ID) to an alert older than the listed ones still opens it (if the role may see it).
linked = st.query_params.get("alert", "")
if linked.isdigit() and len(linked) <= 18 and int(linked) not in set(found["id"]):
    older = queries.alerts_by_id((int(linked),), categories)
    if not older.empty:
        found = pd.concat([found, older], ignore_index=True)
ids = [int(v) for v in found["id"]]
titles = dict(zip(ids, map(str, found["title"]), strict=True))
widgets.restore_from_url("alert_pick", "alert", ids, int)
picked = widgets.drill_selector(
    "Alert (or pick a firing row above)",
    ids,
    key="alert_pick",
    format_func=lambda i: f"#{i} {titles[i]}",
)
widgets.keep_in_url("alert", picked)
if picked is None:
    st.stop()

alert = found[found["id"] == picked].iloc[0]
rule = queries.alert_rules().get(str(alert["rule"]), {})
st.markdown(f"**{plain(alert['title'])}** · {plain(alert['severity'])} · {plain(alert['status'])}")
st.markdown(plain(alert["message"]))  # names ids and values from the data: text, never markdown
st.caption(f"Usually caused by: {rule.get('usual_cause', '—')}")
if isinstance(alert["link"], str) and alert["link"]:
    st.link_button("Open the view that shows it", alert["link"], icon=":material/open_in_new:")
with st.expander("Evidence"):
    st.json(alert["evidence"])
if alert["rule"] == "success_drop":
    st.markdown("**The attempts behind it**")
    behind = queries.alert_payments(picked)
    alert_id = picked
    widgets.payments_table(
        behind.first,
        name=f"alert-{picked}-payments",
        user=user,
        total=behind.total,
        all_rows=lambda: queries.alert_payment_rows(alert_id),
    )

if alert["status"] != "firing":
    st.stop()
SNOOZES = {"1 hour": timedelta(hours=1), "4 hours": timedelta(hours=4), "1 day": timedelta(days=1)}
left, right = st.columns(2)
with left:
    if st.button("Acknowledge", key="alert_ack", disabled=isinstance(alert["acknowledged_by"], str)):
        try:
            queries.acknowledge_alert(picked, user.name, datetime.now(UTC))
        except queries.AlertError as error:
            st.error(f"Could not acknowledge: {error}")
        else:
            st.session_state["alert_flash"] = f"Alert #{picked} acknowledged by {user.name}."
            st.rerun()
with right:
    length = st.selectbox("Snooze for", list(SNOOZES), key="alert_snooze_for")
    if st.button("Snooze notifications", key="alert_snooze") and length is not None:
        moment = datetime.now(UTC)
        try:
            queries.snooze_alert(picked, user.name, moment + SNOOZES[length], moment)
        except queries.AlertError as error:
            st.error(f"Could not snooze: {error}")
        else:
            st.session_state["alert_flash"] = f"Alert #{picked} snoozed for {length} by {user.name}."
            st.rerun()
