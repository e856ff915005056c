"""The Mismatches page's bulk work: the filtered selection, the worklist by age and owner, bulk
actions and the streamed export (each export audited)."""

from __future__ import annotations

from datetime import datetime
from typing import TextIO

import pandas as pd
import streamlit as st

from analytics import mismatch_bulk
from analytics.db import utcnow
from analytics.listing import Listing
from analytics.mismatch_bulk import BulkResult, MismatchFilter
from dashboard import exports, queries

__all__ = ["apply", "export_writer", "filtered", "reason_codes", "selected_ids", "worklist"]


def _minute() -> datetime:
    return utcnow().replace(second=0, microsecond=0)


@st.cache_data(ttl=queries.TTL_DETAIL_SECONDS, show_spinner=False)
def _selected_ids(url: str, selection: MismatchFilter, now: datetime) -> list[int]:
    return mismatch_bulk.select_ids(queries.engine(), selection, now=now)


def selected_ids(selection: MismatchFilter) -> list[int]:
    return _selected_ids(queries.database_url(), selection, _minute())


@st.cache_data(ttl=queries.TTL_DETAIL_SECONDS, show_spinner=False)
def _filtered(url: str, selection: MismatchFilter, now: datetime) -> Listing:
    return mismatch_bulk.filtered(queries.engine(), selection, now=now)


def filtered(selection: MismatchFilter) -> Listing:
    """The filtered mismatches: their true count and the newest rows (analytics.db.MAX_ROWS)."""
    return _filtered(queries.database_url(), selection, _minute())


@st.cache_data(ttl=queries.TTL_DETAIL_SECONDS, show_spinner=False)
def _worklist(url: str, selection: MismatchFilter, me: str, now: datetime) -> pd.DataFrame:
    return mismatch_bulk.worklist(queries.engine(), selection, me=me, now=now)


def worklist(selection: MismatchFilter, me: str) -> pd.DataFrame:
    return _worklist(queries.database_url(), selection, me, _minute())


def reason_codes() -> list[str]:
    return list(mismatch_bulk.reason_codes())


def apply(
    selection: MismatchFilter,
    action: str,
    *,
    actor: str,
    reason_code: str | None,
    note: str | None,
    owner: str | None,
) -> BulkResult:
    result = mismatch_bulk.bulk_apply(
        queries.engine(), selection, action, actor=actor, reason_code=reason_code, note=note, owner=owner
    )
    queries.clear_caches()
    return result


def export_writer(selection: MismatchFilter) -> exports.Writer:
    """The filtered set's CSV, streamed (analytics.mismatch_bulk.export_mismatches) when prepared;
    dashboard/exports.py records the export in the audit log."""

    def write(out: TextIO) -> int:
        return mismatch_bulk.export_mismatches(queries.engine(), selection, out)

    return write
