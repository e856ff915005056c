"""The Mismatches page's bulk work: the filtered selection, the worklist by age and owner, bulk
actions and the streamed export (each export audited)."""

from __future__ import annotations

import io
import tempfile
from collections.abc import Callable
from datetime import datetime
from typing import BinaryIO, cast

import pandas as pd
import streamlit as st

from analytics import mismatch_bulk
from analytics.db import utcnow
from analytics.mismatch_bulk import BulkResult, MismatchFilter
from dashboard import queries
from data.audit import record_audit

__all__ = ["apply", "export_callable", "reason_codes", "selected_ids", "worklist"]


def _minute() -> datetime:
    return utcnow().replace(second=0, microsecond=0)


@st.cache_data(ttl=queries.TTL_DETAIL_SECONDS, show_spinner=False)
def _selected_ids(url: str, selection: MismatchFilter, now: datetime) -> list[int]:
    return mismatch_bulk.select_ids(queries.engine(), selection, now=now)


def selected_ids(selection: MismatchFilter) -> list[int]:
    return _selected_ids(queries.database_url(), selection, _minute())


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


def export_callable(selection: MismatchFilter, actor: str) -> Callable[[], BinaryIO]:
    """What the download button runs on click: the export streamed into a temporary file (in memory
    up to 8 MB, on disk beyond), with one audit row for the export."""

    def build() -> BinaryIO:
        spool = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)  # noqa: SIM115 - handed to Streamlit
        text = io.TextIOWrapper(spool, encoding="utf-8", newline="", write_through=True)
        engine = queries.engine()
        rows = mismatch_bulk.export_mismatches(engine, selection, text)
        text.flush()
        text.detach()
        spool.seek(0)
        with engine.begin() as conn:
            record_audit(
                conn,
                actor=actor,
                action="export_csv",
                target="mismatches",
                detail={"rows": rows, "filter": selection.describe(), "readable": True},
            )
        return cast(BinaryIO, spool)

    return build
