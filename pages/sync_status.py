"""Sync status (operations, admin): how fresh each entity is, the last sync runs, the records that
could not be stored, and a button that runs the sync now."""

import pandas as pd
import streamlit as st

from dashboard import exports, queries, widgets
from dashboard.auth import require_page
from dashboard.format import ist
from dashboard.labels import entity_label, rows
from dashboard.roles import can_run_sync
from dashboard.sync_runner import SyncLauncher

user = require_page("sync_status")
st.title("Sync status")


@st.cache_resource(show_spinner=False)
def launcher() -> SyncLauncher:
    return SyncLauncher()


def lag_text(seconds: int | None) -> str:
    if seconds is None:
        return "never synced"
    if seconds < 3600:
        return f"{seconds // 60} min behind"
    if seconds < 86_400:
        return f"{seconds / 3600:.1f} h behind"
    return f"{seconds / 86_400:.1f} days behind"


sync_launcher = launcher()
if can_run_sync(user.role):
    left, right = st.columns([1, 3])
    clicked = left.button(
        "Run sync now", type="primary", icon=":material/sync:", disabled=sync_launcher.running, key="run_sync"
    )
    if clicked and sync_launcher.start(queries.engine(), user.name, on_finish=queries.clear_caches):
        queries.record_audit(
            actor=user.name, action="run_sync", target="all", detail={"trigger": "dashboard"}
        )
    running_elsewhere = queries.running_syncs()
    if sync_launcher.running:
        right.info(f"Sync started {ist(sync_launcher.started_at)} by {sync_launcher.started_by} is running…")
    elif running_elsewhere:
        right.info(
            "A sync is already running (a second one would not start): " + " · ".join(running_elsewhere)
        )
    if not sync_launcher.running and sync_launcher.outcome:
        right.caption(f"Last sync from this dashboard: {sync_launcher.outcome}")
    if sync_launcher.running or clicked:
        st.button("Refresh", key="refresh_sync", on_click=queries.clear_caches)

status = queries.sync_status()
if all(row["checkpoint"] is None and row["rows"] == 0 for row in status):
    widgets.empty_state(
        "Nothing has been synced yet.",
        "Run `python -m sync run` (or the button above); `make demo` does it against the local sandbox.",
    )

st.subheader("Freshness per entity")
st.caption("Everything created before the checkpoint has been synced. Lag is measured from now.")
widgets.kpi_row(
    [
        widgets.Kpi(
            entity_label(row["entity"]),
            lag_text(row["lag_seconds"]),
            help=f"{rows(row['rows'])} stored",
        )
        for row in status
    ]
)
freshness = [
    {
        "entity": row["entity"],
        "checkpoint": row["checkpoint"],
        "lag": lag_text(row["lag_seconds"]),
        "rows": row["rows"],
        "quarantined": row["quarantined"],
        "last_run": "—"
        if row["last_run"] is None
        else f"#{row['last_run']['id']} {row['last_run']['status']}",
    }
    for row in status
]
freshness_frame = pd.DataFrame(freshness)
freshness_frame["checkpoint"] = pd.to_datetime(freshness_frame["checkpoint"], utc=True, format="ISO8601")
st.dataframe(
    # "Settlement lines" on screen; the CSV below keeps the table names (`settlement_lines`).
    freshness_frame.assign(entity=[entity_label(e) for e in freshness_frame["entity"]]),
    column_config={
        "entity": "Entity",
        "checkpoint": widgets.ist_column("Synced until (IST)"),
        "lag": "Lag",
        "rows": widgets.count_column("Rows stored"),
        "quarantined": widgets.count_column("Quarantined"),
        "last_run": "Last run",
    },
    hide_index=True,
    key="sync_freshness",
)
widgets.csv_download(freshness_frame, name="sync-freshness", user=user)

st.subheader("Last runs")
runs = queries.sync_runs()
if runs.empty:
    st.caption("No sync runs yet.")
else:
    runs_total = queries.sync_runs_total()
    widgets.showing(len(runs), runs_total, "runs", which="the latest ")
    st.dataframe(
        widgets.dashes(runs, "error"),
        column_config={
            "id": st.column_config.NumberColumn("Run", format="#%d"),
            "started_at": widgets.ist_column("Started (IST)"),
            "finished_at": widgets.ist_column("Finished (IST)"),
            "status": "Status",
            "trigger": "Trigger",
            "upserted": widgets.count_column("Rows written"),
            "quarantined": widgets.count_column("Quarantined"),
            "error": "Error",
        },
        hide_index=True,
        key="sync_runs",
    )
    widgets.csv_download(
        runs,
        name="sync-runs",
        user=user,
        total=runs_total,
        write=exports.rows_writer(queries.sync_run_rows, list(runs.columns)),
    )

st.subheader("Quarantined records")
st.caption(
    "Records the sync could not store, kept with the reason; fix the cause and the next run picks them up."
)
quarantined = queries.quarantined_records()
if quarantined.empty:
    st.success("No quarantined records.")
else:
    quarantine_total = queries.quarantine_total()
    widgets.showing(len(quarantined), quarantine_total, "records")
    quarantined_shown = widgets.dashes(
        quarantined.assign(
            entity=[entity_label(v) for v in quarantined["entity"]],
            run_id=["—" if pd.isna(v) else f"#{int(v)}" for v in quarantined["run_id"]],
        )
        if {"entity", "run_id"} <= set(quarantined.columns)
        else quarantined,
        "entity_id",
        "source",
        "reason",
    )
    st.dataframe(
        quarantined_shown,
        column_config=widgets.labelled(
            quarantined_shown,
            {
                "id": st.column_config.NumberColumn("Record", format="#%d"),
                "entity_id": "Entity id",
                "run_id": "Run",
                "first_seen_at": widgets.ist_column("First seen (IST)"),
                "last_seen_at": widgets.ist_column("Last seen (IST)"),
                "raw": st.column_config.TextColumn("Raw record", width="large"),
            },
        ),
        hide_index=True,
        key="sync_quarantine",
    )
    widgets.csv_download(
        quarantined,
        name="quarantine",
        user=user,
        total=quarantine_total,
        write=exports.rows_writer(queries.quarantine_rows, list(quarantined.columns)),
    )
