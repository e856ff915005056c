"""Explicit, audited CSV exports: a file exists only after someone asks for it.

A page draws a "Prepare CSV" button; pressing it streams the rows through the one CSV writer
(analytics/export.py) into a file on disk, writes the audit row (who, page, what, filters, row count) and
only then offers the file:
- served by dashboard/server.py (a cookie session): a link to `/api/export/<token>`, a one-time token for
  this user and session (dashboard/downloads.py), so the file streams from disk and is never held in
  memory, however many rows it has;
- elsewhere (AppTest, `streamlit run dashboard/app.py`, an identity-provider sign-in without a cookie
  session): Streamlit's download button with the file's bytes in memory, as before.
The prepared file is dropped on the first script run after its download, when the signed-in user changes
(sign-out), or after `EXPORT_TTL` — whichever comes first.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TextIO

import pandas as pd
import streamlit as st

from analytics.export import Column, columns_for, write_csv
from dashboard import downloads, queries
from dashboard.auth import SESSION_KEY, SignedInUser
from dashboard.downloads import EXPORT_TTL
from dashboard.labels import rows as rows_text

__all__ = ["EXPORT_TTL", "Writer", "audit_search", "export_button", "frame_writer", "rows_writer"]

_STATE = "payops_exports"

# Writes the CSV to a text stream and returns how many rows it wrote.
Writer = Callable[[TextIO], int]


@dataclass
class _Prepared:
    actor: str
    rows: int
    file_name: str
    prepared_at: datetime
    # One of the two: a one-time link's token (the file waits on disk), or the file's bytes (fallback).
    token: str | None = None
    data: bytes | None = None
    downloaded: bool = False


def frame_writer(frame: pd.DataFrame, columns: Sequence[Column] | None = None) -> Writer:
    """A writer for the rows of a DataFrame (display-only `*_shown` columns left out)."""
    keys = [str(c) for c in frame.columns if not str(c).endswith("_shown")]
    chosen = list(columns) if columns is not None else columns_for(keys)

    def write(out: TextIO) -> int:
        records = ({str(k): v for k, v in row.items()} for row in frame[keys].to_dict(orient="records"))
        return write_csv(out, chosen, records)

    return write


def rows_writer(
    rows: Callable[[], Iterable[Mapping[str, Any]]],
    keys: Sequence[str],
    *,
    transform: Callable[[Mapping[str, Any]], Mapping[str, Any]] | None = None,
) -> Writer:
    """A writer for rows produced (streamed) only when the file is prepared."""
    chosen = columns_for(list(keys))

    def write(out: TextIO) -> int:
        produced = rows()
        return write_csv(out, chosen, produced if transform is None else map(transform, produced))

    return write


def _prepared() -> dict[str, _Prepared]:
    state = st.session_state.setdefault(_STATE, {})
    assert isinstance(state, dict)
    return state


def _cookie_session(actor: str) -> str | None:
    """The cookie session id of the signed-in `actor` when the download route serves this process."""
    user = st.session_state.get(SESSION_KEY)
    if not downloads.routes_mounted() or not isinstance(user, SignedInUser) or user.name != actor:
        return None
    return user.session_id


def _prepare(
    key: str, write: Writer, file_name: str, actor: str, target: str, detail: Mapping[str, Any]
) -> None:
    # Streamed onto disk: neither the writer nor this function ever holds the rows.
    path, written = downloads.write_file(write)
    try:
        queries.record_audit(
            actor=actor, action="export_csv", target=target, detail={**detail, "rows": written}
        )
        session_id = _cookie_session(actor)
        if session_id is not None:
            token = downloads.register(
                path,
                user_name=actor,
                session_id=session_id,
                file_name=file_name,
                rows=written,
                now=queries.now(),
            )
            _prepared()[key] = _Prepared(actor, written, file_name, queries.now(), token=token)
            return
        data = path.read_bytes()  # the fallback: Streamlit's download button wants the bytes
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    path.unlink(missing_ok=True)
    _prepared()[key] = _Prepared(actor, written, file_name, queries.now(), data=data)


def _downloaded(key: str) -> None:
    if (prepared := _prepared().get(key)) is not None:
        prepared.downloaded = True


def export_button(
    write: Writer,
    *,
    name: str,
    actor: str,
    page: str,
    rows: int,
    detail: Mapping[str, Any] | None = None,
    label: str | None = None,
) -> None:
    """ "Prepare CSV (N rows)"; once pressed (and audited), the download button for that one file."""
    key = f"csv_{name}"
    prepared = _prepared().get(key)
    now = queries.now()
    if prepared is not None and (
        prepared.downloaded
        or prepared.actor != actor
        or now - prepared.prepared_at > EXPORT_TTL
        or (prepared.token is not None and not downloads.is_live(prepared.token))
    ):
        if prepared.token is not None:
            downloads.discard(prepared.token)
        del _prepared()[key]
        prepared = None
    if prepared is None:
        st.button(
            label or f"Prepare CSV ({rows_text(rows)})",
            key=f"prepare_{name}",
            icon=":material/description:",
            help="Builds the file and records the export (who, what, filters) in the audit log.",
            on_click=_prepare,
            args=(key, write, f"payops-{name}-{now.astimezone(UTC):%Y%m%dT%H%MZ}.csv", actor, page),
            kwargs={"detail": {"page": page, "export": name, **(detail or {})}},
        )
        return
    available = (
        f"Prepared {prepared.prepared_at.astimezone(UTC):%H:%M} UTC; available for "
        f"{int(EXPORT_TTL.total_seconds() // 60)} minutes or until downloaded."
    )
    if prepared.token is not None:
        st.html(
            f'<a href="{html.escape(downloads.download_url(prepared.token))}" '
            f'download="{html.escape(prepared.file_name)}" title="{html.escape(available)}">'
            f"Download CSV ({html.escape(rows_text(prepared.rows))})</a>"
        )
        return
    st.download_button(
        f"Download CSV ({rows_text(prepared.rows)})",
        data=prepared.data or b"",
        file_name=prepared.file_name,
        mime="text/csv",
        key=f"download_{name}",
        icon=":material/download:",
        on_click=_downloaded,
        args=(key,),
        help=available,
    )


def audit_search(actor: str, page: str, term: str, kind: str, matches: int) -> None:
    """A search by email or phone is personal data looked up: audited with the term, once per term
    per session (a rerun of the same search is not a new look-up)."""
    seen = st.session_state.setdefault("payops_audited_searches", set())
    if (page, term) in seen:
        return
    queries.record_audit(
        actor=actor,
        action="search_contact",
        target=page,
        detail={"kind": kind, "term": term, "matches": matches},
    )
    seen.add((page, term))
