"""The Settlements page's bank part: processed → credited per settlement with its status, the statement
coverage line, and the finance upload (size-limited, audited)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import streamlit as st
from sqlalchemy import select

from analytics.bank_match import refresh_bank_matches
from dashboard import bank
from dashboard.roles import Role
from data.db import make_engine
from data.migrate import upgrade
from data.models import AuditLog
from data.settings import get_settings
from sync.statement_import import import_statement
from tests.dashboard.conftest import AppFactory, Seeded
from tests.support.clock import TEST_NOW
from tests.support.databases import BACKENDS, drop_database, new_database_url
from tests.support.factories import settlement, write

NOW = TEST_NOW  # the session's pinned clock, which the page reads too
TODAY = (NOW + timedelta(hours=5, minutes=30)).date()
# Settled five days ago (IST), inside the statement; the second one has no credit in it.
SETTLED_AT = datetime.combine(TODAY - timedelta(days=5), datetime.min.time(), tzinfo=UTC) + timedelta(hours=4)


def _statement() -> bytes:
    first, last = TODAY - timedelta(days=6), TODAY - timedelta(days=1)
    day = SETTLED_AT.date()
    return (
        "HDFC BANK Ltd.\n"
        f"Statement From : {first:%d/%m/%y} To : {last:%d/%m/%y}\n"
        "Date,Narration,Value Dat,Debit Amount,Credit Amount,Chq/Ref Number,Closing Balance\n"
        f"{day:%d/%m/%y},NEFT CR-RAZORPAY SOFTWARE-UTIBRPAGE1,{day:%d/%m/%y},,1500.00,11,0\n"
    ).encode()


@pytest.fixture(scope="module", params=BACKENDS)
def seeded(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    backend = str(request.param)
    url = new_database_url(backend, tmp_path_factory.mktemp("bank-page-db"))
    engine = make_engine(url)
    upgrade(engine)
    with engine.begin() as conn:
        write(
            conn,
            "settlements",
            settlement("setl_page1", amount=150_000, utr="UTIBRPAGE1", created_at=SETTLED_AT),
            settlement("setl_page2", amount=99_000, utr="UTIBRPAGE2", created_at=SETTLED_AT),
        )
    import_statement(engine, _statement(), file_name="page.csv", settings=get_settings(), actor="seed")
    refresh_bank_matches(engine)
    yield Seeded(url, engine, {})
    engine.dispose()
    drop_database(backend, url)


def test_finance_sees_each_settlement_credited_or_not_and_the_coverage(app_for: AppFactory) -> None:
    at = app_for(Role.FINANCE, "settlements")
    assert not at.exception, [e.value for e in at.exception]
    frame = next(f.value for f in at.dataframe if "bank_line" in f.value.columns)
    frame = frame.astype(object).where(frame.notna(), None)
    shown = {
        row.settlement_id: (row.status_text, row.credited_on, row.bank_line, row.match_rule)
        for row in frame.itertuples()
    }
    credited_on = f"{SETTLED_AT.date():%d %b %Y}"
    # What is not there reads "—", never "None" (issue 12, human labels).
    assert shown == {
        "setl_page1": ("credited", credited_on, "page.csv:4", "utr"),
        "setl_page2": ("not credited", "—", "—", "—"),
    }
    first = TODAY - timedelta(days=6)
    assert any(
        f"INR: {first:%d %b %Y} – {TODAY - timedelta(days=1):%d %b %Y}" in caption.value
        for caption in at.caption
    )
    assert any(expander.label == "Import a bank statement" for expander in at.expander)


def test_upload_imports_as_the_user_and_rejects_oversize_files_with_an_audit_row(
    seeded: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", seeded.url)
    monkeypatch.setenv("STATEMENT_UPLOAD_MAX_MB", "1")
    get_settings.cache_clear()
    st.cache_data.clear()
    try:
        too_big = bank.upload_statement(
            b"x" * (1024 * 1024 + 1), file_name="big.csv", actor="asha", fmt="csv", preset="hdfc"
        )
        assert not too_big.ok and "limit is 1 MB" in too_big.message
        again = bank.upload_statement(
            _statement(), file_name="page.csv", actor="asha", fmt=None, preset="hdfc"
        )
        assert again.ok and "already imported" in again.message
        fresh = _statement().replace(b"UTIBRPAGE1", b"UTIBRPAGE2").replace(b"1500.00", b"990.00")
        imported = bank.upload_statement(fresh, file_name="page2.csv", actor="asha", fmt=None, preset="hdfc")
        assert imported.ok and "1 new" in imported.message
    finally:
        get_settings.cache_clear()
    with seeded.engine.connect() as conn:
        audit = conn.execute(
            select(AuditLog.actor, AuditLog.action, AuditLog.target)
            .where(AuditLog.actor == "asha")
            .order_by(AuditLog.id)
        ).all()
    assert [tuple(row) for row in audit] == [
        ("asha", "statement.upload_rejected", "big.csv"),
        ("asha", "statement.import", "page2.csv"),
    ]
    statuses = {row["settlement_id"]: row["status"] for row in bank.credits().to_dict(orient="records")}
    assert statuses == {"setl_page1": "credited", "setl_page2": "credited"}
