"""The Settlements page's bank-statement data: settlement credits and statement coverage (cached), and
the finance upload of a statement (import, re-match, audit)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import pandas as pd
import streamlit as st

from analytics.bank_match import (
    iter_settlement_credits,
    processed_settlements_query,
    refresh_bank_matches,
    settlement_credits,
    statement_coverage,
)
from analytics.db import MAX_ROWS, utcnow
from analytics.listing import count_rows
from dashboard import queries
from data.audit import record_audit
from data.settings import get_settings
from sync.statement_import import import_statement
from sync.statements import StatementError

__all__ = [
    "CREDITS_LISTED",
    "UploadOutcome",
    "coverage",
    "coverage_text",
    "credit_rows",
    "credits",
    "credits_total",
    "upload_statement",
]

STATUS_TEXT = {
    "credited": "credited",
    "short": "credited short",
    "credited_twice": "credited twice",
    "ambiguous": "ambiguous (no guess)",
    "not_credited": "not credited",
    "not_yet_known": "not yet known",
    "no_credit_due": "no credit due",
}


# The Settlements page lists this many bank credits (newest first); it says how many there are and the
# CSV holds them all.
CREDITS_LISTED = MAX_ROWS


def _with_status_text(credit: dict[str, Any]) -> dict[str, Any]:
    return {**credit, "status_text": STATUS_TEXT.get(str(credit["status"]))}


@st.cache_data(ttl=queries.TTL_DETAIL_SECONDS, show_spinner=False)
def _credits(url: str, now: datetime, limit: int) -> pd.DataFrame:
    return pd.DataFrame(
        [_with_status_text(credit) for credit in settlement_credits(queries.engine(), now=now, limit=limit)]
    )


def _credit_moment() -> datetime:
    # Minute resolution keeps the cache useful while "not yet known" still turns over on time.
    return utcnow().replace(second=0, microsecond=0)


def credits() -> pd.DataFrame:
    """The newest `CREDITS_LISTED` processed settlements: processed → credited (date, bank line) with
    the status. `credits_total` counts them all; `credit_rows` streams them all."""
    return _credits(queries.database_url(), _credit_moment(), CREDITS_LISTED)


@st.cache_data(ttl=queries.TTL_DETAIL_SECONDS, show_spinner=False)
def _credits_total(url: str) -> int:
    return count_rows(queries.engine(), processed_settlements_query())


def credits_total() -> int:
    """How many processed settlements there are (a COUNT)."""
    return _credits_total(queries.database_url())


def credit_rows() -> Iterator[dict[str, Any]]:
    """Every processed settlement's credit row, in chunks (the CSV; never cached)."""
    return map(_with_status_text, iter_settlement_credits(queries.engine(), now=_credit_moment()))


@st.cache_data(ttl=queries.TTL_DETAIL_SECONDS, show_spinner=False)
def _coverage(url: str) -> dict[str, list[tuple[date, date]]]:
    return statement_coverage(queries.engine())


def coverage() -> dict[str, list[tuple[date, date]]]:
    return _coverage(queries.database_url())


def coverage_text(ranges: dict[str, list[tuple[date, date]]]) -> str:
    if not ranges:
        return "No bank statement imported yet: every credit is 'not yet known'."
    parts = [
        f"{currency}: " + ", ".join(f"{start:%d %b %Y} – {end:%d %b %Y}" for start, end in spans)
        for currency, spans in sorted(ranges.items())
    ]
    return (
        "Imported bank statements cover "
        + "; ".join(parts)
        + ". Outside these days a missing credit is not yet known."
    )


@dataclass(frozen=True)
class UploadOutcome:
    ok: bool
    message: str


def upload_statement(
    content: bytes, *, file_name: str, actor: str, fmt: str | None, preset: str | None
) -> UploadOutcome:
    """Import an uploaded statement as `actor`, re-match, and audit the upload whatever its fate."""
    settings = get_settings()
    limit = settings.statement_upload_max_mb * 1024 * 1024
    engine = queries.engine()
    if len(content) > limit:
        reason = f"{file_name} is {len(content) / 1_048_576:.1f} MB; the limit is {settings.statement_upload_max_mb} MB"
    else:
        try:
            result = import_statement(
                engine, content, file_name=file_name, settings=settings, fmt=fmt, preset=preset, actor=actor
            )
        except StatementError as error:
            reason = f"{file_name}: {error}"
        else:
            if not result.already_imported:
                refresh_bank_matches(engine)
            queries.clear_caches()
            return UploadOutcome(True, result.summary())
    with engine.begin() as conn:
        record_audit(
            conn,
            actor=actor,
            action="statement.upload_rejected",
            target=file_name[:200],
            detail={"reason": reason[:500], "bytes": len(content)},
        )
    return UploadOutcome(False, reason)
