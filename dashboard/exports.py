"""Explicit, audited CSV exports: a file exists only after someone asks for it.

Streamlit serves a download button's data from a `/media/…` URL that carries no session cookie, and a
download button built on every render puts every table's CSV there before anyone clicks. So a page
draws a "Prepare CSV" button; pressing it writes the audit row (who, page, what, filters, row count),
builds the file through the one CSV writer (analytics/export.py) and only then draws the download
button for that file. The prepared file is dropped on the first script run after its download, when
the signed-in user changes (sign-out), or after `EXPORT_TTL` — whichever comes first.
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

import pandas as pd
import streamlit as st

from analytics.export import Column, columns_for, write_csv
from dashboard import queries
from dashboard.labels import rows as rows_text

__all__ = ["EXPORT_TTL", "Writer", "audit_search", "export_button", "frame_writer", "rows_writer"]

EXPORT_TTL = timedelta(minutes=5)
_STATE = "payops_exports"

# Writes the CSV to a text stream and returns how many rows it wrote.
Writer = Callable[[TextIO], int]


@dataclass
class _Prepared:
    actor: str
    data: bytes
    rows: int
    file_name: str
    prepared_at: datetime
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


def _prepare(
    key: str, write: Writer, file_name: str, actor: str, target: str, detail: Mapping[str, Any]
) -> None:
    # Streamed into a spooled file (on disk beyond 8 MB) so the writer never holds the rows; Streamlit
    # then keeps the finished bytes in its media store until the button is gone.
    with tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024) as spool:
        text = io.TextIOWrapper(spool, encoding="utf-8", newline="", write_through=True)
        written = write(text)
        text.flush()
        text.detach()
        spool.seek(0)
        data = spool.read()
    queries.record_audit(actor=actor, action="export_csv", target=target, detail={**detail, "rows": written})
    _prepared()[key] = _Prepared(actor, data, written, file_name, queries.now())


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
        prepared.downloaded or prepared.actor != actor or now - prepared.prepared_at > EXPORT_TTL
    ):
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
    st.download_button(
        f"Download CSV ({rows_text(prepared.rows)})",
        data=prepared.data,
        file_name=prepared.file_name,
        mime="text/csv",
        key=f"download_{name}",
        icon=":material/download:",
        on_click=_downloaded,
        args=(key,),
        help=f"Prepared {prepared.prepared_at.astimezone(UTC):%H:%M} UTC; available for "
        f"{int(EXPORT_TTL.total_seconds() // 60)} minutes or until downloaded.",
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
