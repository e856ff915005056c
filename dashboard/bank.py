"""The Settlements page's bank-statement data: settlement credits and statement coverage (cached), and
the finance upload of a statement (import, re-match, audit)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import pandas as pd
import streamlit as st

from analytics.bank_match import refresh_bank_matches, settlement_credits, statement_coverage
from analytics.db import utcnow
from dashboard import queries
from data.audit import record_audit
from data.settings import get_settings
from sync.statement_import import import_statement
from sync.statements import StatementError

__all__ = ["UploadOutcome", "coverage", "coverage_text", "credits", "upload_statement"]

STATUS_TEXT = {
    "credited": "credited",
    "short": "credited short",
    "credited_twice": "credited twice",
    "ambiguous": "ambiguous (no guess)",
    "not_credited": "not credited",
    "not_yet_known": "not yet known",
    "no_credit_due": "no credit due",
}


@st.cache_data(ttl=queries.TTL_DETAIL_SECONDS, show_spinner=False)
def _credits(url: str, now: datetime) -> pd.DataFrame:
    frame = pd.DataFrame(settlement_credits(queries.engine(), now=now))
    if not frame.empty:
        frame["status_text"] = frame["status"].map(STATUS_TEXT)
    return frame


def credits() -> pd.DataFrame:
    """Processed settlements, newest first: processed → credited (date, bank line) with the status."""
    # Minute resolution keeps the cache useful while "not yet known" still turns over on time.
    now = utcnow().replace(second=0, microsecond=0)
    return _credits(queries.database_url(), now)


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
