"""The one-time CSV download route over the real ASGI app (`dashboard.server:app`): a prepared file goes
once, to the user and cookie session it was prepared in, streamed from disk and then gone; anyone else
gets 403 or 404 with nothing in the body; an expired file is deleted unread; the "Prepare CSV" button
offers the link where the route is served, and preparing 100k rows stays in bounded memory."""

from __future__ import annotations

import csv
import io
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

import pytest
import streamlit as st
import time_machine
from sqlalchemy import Engine, insert, select
from starlette.testclient import TestClient
from streamlit.testing.v1 import AppTest

from analytics.export import columns_for, write_csv
from analytics.mismatch_bulk import MismatchFilter, export_mismatches
from dashboard import downloads, exports, queries, session
from dashboard.auth import SESSION_KEY, SignedInUser
from dashboard.roles import Role
from data import sessions as session_store
from data.models import AuditLog, Mismatch
from data.settings import get_settings
from tests.dashboard.conftest import AppFactory, Seeded

KEY = "export-route-test-key"
HOSTILE = ['=HYPERLINK("http://evil.example")', "+1+1", "-2+3", "@SUM(A1)"]


@pytest.fixture
def client(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("PAYOPS_SESSION_KEY", KEY)
    get_settings.cache_clear()
    from dashboard.server import app

    yield TestClient(app, base_url="http://dashboard.test")
    get_settings.cache_clear()


def _session(engine: Engine, user_name: str = "finance") -> str:
    session_id = session.new_session_id()
    session_store.create_session(
        engine,
        session_id=session_id,
        user_name=user_name,
        role="finance",
        method="password",
        now=datetime.now(UTC),
    )
    return session_id


def _prepared(rows: list[dict[str, Any]], *, user_name: str, session_id: str) -> tuple[str, Path]:
    keys = list(rows[0])

    def write(out: TextIO) -> int:
        return write_csv(out, columns_for(keys), rows)

    path, written = downloads.write_file(write)
    assert written == len(rows)
    token = downloads.register(
        path, user_name=user_name, session_id=session_id, file_name="payops-test.csv", rows=written
    )
    return token, path


def _rows(n: int = 3) -> list[dict[str, Any]]:
    return [{"id": f"pay_{i:06d}", "email": f"user{i}@example.com"} for i in range(n)]


def _get(client: TestClient, token: str, session_id: str | None) -> Any:
    client.cookies.clear()
    if session_id is not None:
        client.cookies.set(session.COOKIE_NAME, session.cookie_value(session_id))
    return client.get(downloads.download_url(token))


def test_the_owner_downloads_once_streamed_from_disk_and_the_file_is_gone(
    client: TestClient, engine: Engine
) -> None:
    mine = _session(engine)
    token, path = _prepared(_rows(3), user_name="finance", session_id=mine)
    assert path.exists()

    response = _get(client, token, mine)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == 'attachment; filename="payops-test.csv"'
    assert response.headers["cache-control"] == "no-store"
    lines = list(csv.reader(io.StringIO(response.text)))
    assert lines[0] == ["Id", "Email"] and [line[0] for line in lines[1:]] == [
        "pay_000000",
        "pay_000001",
        "pay_000002",
    ]
    assert not path.exists()
    assert not downloads.is_live(token)

    again = _get(client, token, mine)
    assert (again.status_code, again.text) == (404, "Not found")


def test_no_cookie_a_forged_one_or_another_users_session_is_refused_and_the_owner_still_downloads(
    client: TestClient, engine: Engine
) -> None:
    mine = _session(engine)
    token, path = _prepared(_rows(2), user_name="finance", session_id=mine)
    someone_else = _session(engine, user_name="operations")
    my_other_tab = _session(engine)  # the same user, another sign-in: not the session the file was made in

    assert (_get(client, token, None).status_code, _get(client, token, None).text) == (403, "Forbidden")
    for other in (someone_else, my_other_tab):
        refused = _get(client, token, other)
        assert (refused.status_code, refused.text) == (403, "Forbidden")
    client.cookies.set(session.COOKIE_NAME, session.cookie_value(mine)[:-6] + "AAAAAA")
    assert client.get(downloads.download_url(token)).status_code == 403
    session_store.end_session(engine, someone_else, now=datetime.now(UTC))
    assert _get(client, token, someone_else).status_code == 403  # an ended session is no session

    assert path.exists() and downloads.is_live(token)  # none of them used the token up
    assert _get(client, token, mine).status_code == 200


def test_an_ended_session_cannot_download_its_own_file(client: TestClient, engine: Engine) -> None:
    mine = _session(engine)
    token, _ = _prepared(_rows(1), user_name="finance", session_id=mine)
    session_store.end_session(engine, mine, now=datetime.now(UTC))  # signed out
    assert _get(client, token, mine).status_code == 403


def test_an_unknown_token_is_not_found(client: TestClient, engine: Engine) -> None:
    mine = _session(engine)
    response = _get(client, "no-such-token", mine)
    assert (response.status_code, response.text) == (404, "Not found")


def test_an_expired_token_is_not_found_and_its_file_was_deleted_unread(
    client: TestClient, engine: Engine
) -> None:
    mine = _session(engine)
    token, path = _prepared(_rows(2), user_name="finance", session_id=mine)
    with time_machine.travel(datetime.now(UTC) + downloads.EXPORT_TTL + timedelta(seconds=1), tick=False):
        session_store.valid_session(  # keep the session itself alive: only the token is stale
            engine,
            mine,
            now=datetime.now(UTC) - timedelta(minutes=1),
            idle=timedelta(hours=1),
            lifetime=timedelta(hours=1),
        )
        assert not downloads.is_live(token)
        response = _get(client, token, mine)
    assert (response.status_code, response.text) == (404, "Not found")
    assert not path.exists()


def test_a_later_prepare_sweeps_expired_files() -> None:
    at = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
    path, _ = downloads.write_file(lambda out: write_csv(out, columns_for(["id"]), [{"id": "x"}]))
    downloads.register(path, user_name="finance", session_id="s1", file_name="a.csv", rows=1, now=at)
    later, _ = downloads.write_file(lambda out: write_csv(out, columns_for(["id"]), [{"id": "y"}]))
    downloads.register(
        later, user_name="finance", session_id="s1", file_name="b.csv", rows=1, now=at + timedelta(minutes=4)
    )
    assert path.exists()  # 4 minutes old: still waiting for its download
    last, _ = downloads.write_file(lambda out: write_csv(out, columns_for(["id"]), [{"id": "z"}]))
    downloads.register(
        last, user_name="finance", session_id="s1", file_name="c.csv", rows=1, now=at + timedelta(minutes=6)
    )
    assert not path.exists() and later.exists() and last.exists()


@pytest.mark.parametrize("method", ["HEAD", "POST", "PUT", "DELETE"])
def test_only_get_is_allowed(client: TestClient, engine: Engine, method: str) -> None:
    mine = _session(engine)
    token, path = _prepared(_rows(1), user_name="finance", session_id=mine)
    client.cookies.set(session.COOKIE_NAME, session.cookie_value(mine))
    assert client.request(method, downloads.download_url(token)).status_code == 405
    assert path.exists() and downloads.is_live(token)


def test_formula_cells_are_neutralised_in_the_downloaded_file(client: TestClient, engine: Engine) -> None:
    mine = _session(engine)
    token, _ = _prepared(
        [{"id": f"pay_{i}", "email": value} for i, value in enumerate(HOSTILE)],
        user_name="finance",
        session_id=mine,
    )
    body = _get(client, token, mine).text
    emails = [row["Email"] for row in csv.DictReader(io.StringIO(body))]
    assert emails == ["'" + value for value in HOSTILE]


def test_a_name_with_non_ascii_characters_claims_its_own_file_only() -> None:
    path, _ = downloads.write_file(lambda out: write_csv(out, columns_for(["id"]), []))
    token = downloads.register(path, user_name="रवि@example.in", session_id="s", file_name="a.csv", rows=0)
    assert downloads.claim(token, user_name="ravi@example.in", session_id="s")[0] is downloads.Claim.FORBIDDEN
    assert downloads.claim(token, user_name="रवि@example.in", session_id="s")[0] is downloads.Claim.GRANTED
    path.unlink()


def test_the_file_name_cannot_break_out_of_the_header() -> None:
    path, _ = downloads.write_file(lambda out: write_csv(out, columns_for(["id"]), []))
    token = downloads.register(
        path, user_name="u", session_id="s", file_name='a";\r\nSet-Cookie: x=1.csv', rows=0
    )
    outcome, export = downloads.claim(token, user_name="u", session_id="s")
    assert outcome is downloads.Claim.GRANTED and export is not None
    assert export.file_name == "a-Set-Cookie-x-1.csv"


# --- the page: "Prepare CSV" offers the link where the route is served -----------------------------------


def test_prepare_csv_offers_a_one_time_link_that_downloads_every_row(
    app_for: AppFactory, seeded: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(downloads, "_routes_mounted", True)
    monkeypatch.setenv("PAYOPS_SESSION_KEY", KEY)
    get_settings.cache_clear()
    mine = _session(seeded.engine, user_name="finance-tester")
    at = AppTest.from_file(
        str(Path(__file__).resolve().parents[2] / "dashboard" / "app.py"), default_timeout=60
    )
    at.session_state[SESSION_KEY] = SignedInUser(
        name="finance-tester", role=Role.FINANCE, method="password", session_id=mine
    )
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    next(b for b in at.button if b.key == "prepare_overview-by-currency").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert len(at.get("download_button")) == 0  # no file bytes in session state or the media store
    prepared = at.session_state["payops_exports"]["csv_overview-by-currency"]
    assert prepared.data is None and prepared.token is not None
    (link,) = [element.proto.body for element in at.get("html") if "/api/export/" in element.proto.body]
    assert f'href="/api/export/{prepared.token}"' in link
    assert f"Download CSV ({'1 row' if prepared.rows == 1 else f'{prepared.rows:,} rows'})" in link
    assert prepared.rows > 0

    from dashboard.server import app

    client = TestClient(app, base_url="http://dashboard.test")
    client.cookies.set(session.COOKIE_NAME, session.cookie_value(mine))
    body = client.get(downloads.download_url(prepared.token)).text
    assert len(list(csv.DictReader(io.StringIO(body)))) == prepared.rows
    with seeded.engine.connect() as conn:
        audit = conn.execute(
            select(AuditLog.detail).where(AuditLog.action == "export_csv").order_by(AuditLog.id.desc())
        ).first()
    assert audit is not None and audit.detail["rows"] == prepared.rows

    at.run()  # downloaded: the page offers "Prepare CSV" again
    assert any(b.key == "prepare_overview-by-currency" for b in at.button)
    assert "csv_overview-by-currency" not in at.session_state["payops_exports"]


# --- memory: 100k rows prepared in bounded memory ---------------------------------------------------------


MEMORY_ROWS = 100_000
MEMORY_BOUND = 4 * 1024 * 1024  # measured 1.1 MiB; the file itself is about 30 MiB
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _seed_mismatches(engine: Engine, count: int) -> None:
    for start in range(0, count, 5000):
        rows = [
            {
                "key": f"payment_not_settled:pay_{n:012d}",
                "rule": "payment_not_settled",
                "severity": "high",
                "status": "open",
                "auto_resolved": False,
                "payment_id": f"pay_{n:012d}",
                "currency": "INR",
                "expected_amount": 10_000 + n,
                "actual_amount": 0,
                "explanation": f"Payment pay_{n:012d} captured has no settlement line after T+3 business days.",
                "evidence": {"payment_id": f"pay_{n:012d}", "amount": 10_000 + n},
                "first_seen_at": NOW - timedelta(days=5),
                "last_seen_at": NOW,
                "evidence_at": NOW - timedelta(days=10),
                "due_at": NOW - timedelta(days=7),
            }
            for n in range(start, min(start + 5000, count))
        ]
        with engine.begin() as conn:
            conn.execute(insert(Mismatch), rows)


@pytest.mark.slow(seconds=90)
def test_preparing_100k_mismatches_stays_in_bounded_memory(
    engine: Engine, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _seed_mismatches(engine, MEMORY_ROWS)
    monkeypatch.setenv("DATABASE_URL", database_url)
    get_settings.cache_clear()
    monkeypatch.setattr(downloads, "_routes_mounted", True)
    mine = _session(engine)
    state: dict[str, Any] = {}  # the script's session state (there is no script run here)
    monkeypatch.setattr(st, "session_state", state)
    state[SESSION_KEY] = SignedInUser(name="finance", role=Role.FINANCE, method="password", session_id=mine)

    def write(out: TextIO) -> int:
        return export_mismatches(engine, MismatchFilter(), out, now=NOW)

    # Warm up on one row: imports, the rules table, babel's locale data and the engines' first connections
    # are loaded once per process, not per export.
    assert export_mismatches(engine, MismatchFilter(amount_max=10_000), io.StringIO(), now=NOW) == 1
    queries.record_audit(actor="finance", action="warm_up", target=None, detail={})
    tracemalloc.start()
    try:
        exports._prepare(
            "csv_mismatches", write, "payops-mismatches.csv", "finance", "mismatches", {"page": "mismatches"}
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    prepared = state["payops_exports"]["csv_mismatches"]
    assert prepared.rows == MEMORY_ROWS and prepared.data is None
    print(f"peak {peak / 2**20:.1f} MiB for {MEMORY_ROWS:,} rows")
    assert peak < MEMORY_BOUND, f"peak {peak / 2**20:.1f} MiB"
    outcome, export = downloads.claim(prepared.token, user_name="finance", session_id=mine)
    assert outcome is downloads.Claim.GRANTED and export is not None
    size = export.path.stat().st_size
    assert size > 6 * MEMORY_BOUND  # the file is many times the bound: it never was in memory
    with export.path.open(encoding="utf-8", newline="") as handle:
        assert sum(1 for _ in csv.reader(handle)) == MEMORY_ROWS + 1
    export.path.unlink()
