"""Sign-in as an attacker would try it, and the session after it: unknown names cost what real ones do,
failures are audited and throttled per name and per address (from the audit log, so across replicas),
a spike alerts; a shared link opens its page after sign-in (or says it is not for the role); an idle
session ends; the cookie routes issue, renew and end a signed, HttpOnly, SameSite=Strict cookie that
another replica with the same key accepts."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import bcrypt
import pytest
import time_machine
from sqlalchemy import Engine, insert, select
from starlette.applications import Starlette
from starlette.testclient import TestClient
from streamlit.testing.v1 import AppTest
from streamlit.util import calc_hash

from analytics import alerts
from dashboard import session
from dashboard.auth import SESSION_KEY, throttle_for
from dashboard.roles import DEMO_SIGN_IN_HINT, Role
from dashboard.users import add_user, bcrypt_cost, dummy_hash_for, load_users
from data import sessions as session_store
from data.models import AuditLog, DashboardSession
from data.settings import AlertRules, get_settings
from tests.dashboard.conftest import PASSWORD, AppFactory, Seeded

SIGN_IN_FAILED = "sign_in_failed"


def _open_url(at: AppTest, url_path: str) -> AppTest:
    """Like a browser opening /<url_path>: AppTest.switch_page only takes page files, and before sign-in
    every page URL is served by the sign-in form (a callable page), so pick the page by its hash."""
    at._page_hash = calc_hash(url_path)  # the hash st.Page gives a url_path
    return at.run()


def _submit(at: AppTest, name: str, password: str) -> AppTest:
    at.text_input(key="sign_in_name").input(name)
    at.text_input(key="sign_in_password").input(password)
    at.button[0].click()
    return at.run()


def _audit(engine: Engine, action: str) -> list[Any]:
    with engine.connect() as conn:
        return list(
            conn.execute(select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id)).all()
        )


# --- equal cost for unknown names ------------------------------------------------------------------


@pytest.mark.parametrize("rounds", [4, 12])
def test_unknown_names_are_checked_against_a_hash_of_the_real_cost(tmp_path: Path, rounds: int) -> None:
    path = tmp_path / "users.toml"
    add_user("ravi", Role.FINANCE, "s3cret-password", path=path, rounds=rounds)
    records = load_users(path)
    real = records["ravi"].password_hash
    assert real is not None and bcrypt_cost(real) == rounds
    dummy = dummy_hash_for(records)
    assert bcrypt_cost(dummy.decode("ascii")) == rounds
    assert not bcrypt.checkpw(b"s3cret-password", dummy)


# --- throttle, audit, alert --------------------------------------------------------------------------


def test_five_failures_lock_the_name_for_the_window_and_are_audited(
    app_for: AppFactory, seeded: Seeded
) -> None:
    at = app_for(None)
    before = len(_audit(seeded.engine, SIGN_IN_FAILED))
    for _ in range(5):
        _submit(at, "operations", "wrong password!")
        assert [e.value for e in at.error] == ["Name or password is not right."]
    failures = _audit(seeded.engine, SIGN_IN_FAILED)[before:]
    assert [(row.actor, row.detail) for row in failures] == [("operations", {"method": "password"})] * 5
    _submit(at, "operations", PASSWORD)  # the right password, but the name is locked now
    assert [e.value for e in at.error] == ["Too many failed sign-ins. Try again in 15 minutes."]
    assert [t.value for t in at.title] == ["payops"]
    assert _audit(seeded.engine, "sign_in_locked")[-1].actor == "operations"
    with time_machine.travel(datetime.now(UTC) + timedelta(minutes=16), tick=True):
        _submit(at, "operations", PASSWORD)
        assert [t.value for t in at.title] == ["Overview"]


def test_failures_from_one_address_lock_it_whatever_the_name(seeded: Seeded, app_for: AppFactory) -> None:
    app_for(None)  # points the dashboard at the seeded database
    now = datetime.now(UTC)
    with seeded.engine.begin() as conn:
        conn.execute(
            insert(AuditLog),
            [
                {
                    "at": now - timedelta(minutes=10, seconds=-i),
                    "actor": f"guess{i}",
                    "action": SIGN_IN_FAILED,
                    "target": "address:203.0.113.9",
                    "detail": {},
                }
                for i in range(20)
            ],
        )
    locked = throttle_for("someone-new", "203.0.113.9", now)
    assert (locked.reason, locked.locked_until) == (
        "address",
        now - timedelta(minutes=10) + timedelta(minutes=15),
    )
    assert throttle_for("someone-new", "198.51.100.1", now).locked_until is None
    assert throttle_for("someone-new", "203.0.113.9", now + timedelta(minutes=6)).locked_until is None


def test_a_spike_of_failed_sign_ins_alerts(engine: Engine) -> None:
    at = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)
    rules = AlertRules(sign_in_failures_min=20)
    rows = [
        {
            "at": at - timedelta(minutes=30, seconds=i),
            "actor": f"name{i % 7}",
            "action": SIGN_IN_FAILED,
            "target": f"address:10.0.0.{i % 3}",
            "detail": {},
        }
        for i in range(19)
    ]
    with engine.begin() as conn:
        conn.execute(insert(AuditLog), rows)
    quiet = alerts.evaluate(engine, at=at, rules=rules, only=["sign_in_failures"])
    assert not quiet.fired
    with engine.begin() as conn:
        conn.execute(insert(AuditLog), [{**rows[0], "at": at - timedelta(minutes=1)}])
    fired = alerts.evaluate(engine, at=at, rules=rules, only=["sign_in_failures"])
    assert len(fired.fired) == 1
    alert = fired.fired[0]
    assert alert["rule"] == "sign_in_failures" and alert["category"] == "security"
    assert alert["evidence"]["count"] == 20
    assert alert["evidence"]["names"] == 7 and alert["evidence"]["addresses"] == 3


# --- shared links and idle sessions (AppTest) ------------------------------------------------------------


def test_a_shared_link_opens_its_page_with_its_filters_after_sign_in(app_for: AppFactory) -> None:
    at = app_for(None, method="upi", period="last_30_days")
    _open_url(at, "success-rates")
    assert [t.value for t in at.title] == ["payops"]  # the sign-in form, not "Page not found"
    _submit(at, "manager", PASSWORD)
    assert not at.exception, [e.value for e in at.exception]
    assert [t.value for t in at.title][:1] == ["Success rates"]
    assert at.sidebar.selectbox(key="filter_method").value == "upi"
    assert at.sidebar.selectbox(key="filter_period").value == "last_30_days"


def test_a_shared_link_to_a_page_of_another_role_says_so(app_for: AppFactory) -> None:
    at = app_for(None, method="upi")
    _open_url(at, "success-rates")
    _submit(at, "finance", PASSWORD)
    assert [t.value for t in at.title] == ["Success rates"]
    assert [e.value for e in at.error] == [
        "This page is not for your role (finance). The pages you can open are in the sidebar."
    ]
    assert not at.metric and not at.dataframe


def test_an_idle_session_ends_and_says_why(app_for: AppFactory, seeded: Seeded) -> None:
    at = _submit(app_for(None), "admin", PASSWORD)
    assert [t.value for t in at.title] == ["Overview"]
    with time_machine.travel(datetime.now(UTC) + timedelta(minutes=20), tick=True):
        at.run()
        assert [t.value for t in at.title] == ["Overview"]  # 20 minutes idle: still signed in
        with time_machine.travel(datetime.now(UTC) + timedelta(minutes=31), tick=True):
            at.run()
    assert [t.value for t in at.title] == ["payops"]
    assert any("Your session ended" in i.value for i in at.info)
    with seeded.engine.connect() as conn:
        ended = conn.execute(select(DashboardSession.ended_at).where(DashboardSession.user_name == "admin"))
        assert all(row.ended_at is not None for row in ended)


def test_sign_out_ends_the_server_side_session(app_for: AppFactory, seeded: Seeded) -> None:
    at = _submit(app_for(None), "finance", PASSWORD)
    session_id = at.session_state[SESSION_KEY].session_id
    at.button(key="sign_out").click().run()
    assert [t.value for t in at.title] == ["payops"]
    with seeded.engine.connect() as conn:
        ended = conn.execute(select(DashboardSession.ended_at).where(DashboardSession.id == session_id))
        assert ended.scalar_one() is not None


# --- the cookie routes ------------------------------------------------------------------------------------


def _client(monkeypatch: pytest.MonkeyPatch, database_url: str, key: str) -> TestClient:
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("PAYOPS_SESSION_KEY", key)
    get_settings.cache_clear()
    return TestClient(Starlette(routes=session.session_routes()), base_url="http://dashboard.test")


def _new_session(engine: Engine) -> str:
    session_id = session.new_session_id()
    session_store.create_session(
        engine,
        session_id=session_id,
        user_name="finance",
        role="finance",
        method="password",
        now=datetime.now(UTC),
    )
    return session_id


def test_the_routes_issue_renew_and_end_a_signed_strict_httponly_cookie(
    engine: Engine, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = _client(monkeypatch, database_url, "key-one")
    session_id = _new_session(engine)
    grant = session.make_grant(session_id)
    response = client.get(
        session.start_url(grant, "/success-rates?period=last_30_days&method=upi"), follow_redirects=False
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/success-rates?period=last_30_days&method=upi"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{session.COOKIE_NAME}=")
    for attribute in ("HttpOnly", "SameSite=strict", "Path=/", f"Max-Age={12 * 3600}"):
        assert attribute.lower() in cookie.lower(), cookie
    assert session_id not in cookie.split(";")[0] or "." in cookie.split(";")[0]  # signed, not bare
    assert session.read_cookie(client.cookies[session.COOKIE_NAME]) == session_id

    again = client.get(session.start_url(grant, "/"), follow_redirects=False)
    assert again.status_code == 403  # a grant is good once

    assert client.post(session.RENEW_PATH).json() == {"signed_in": True}

    # Another replica: its own process, the same key from settings, the same database.
    replica = _client(monkeypatch, database_url, "key-one")
    replica.cookies.set(session.COOKIE_NAME, client.cookies[session.COOKIE_NAME])
    assert replica.post(session.RENEW_PATH).json() == {"signed_in": True}
    stranger = _client(monkeypatch, database_url, "another-key")
    stranger.cookies.set(session.COOKIE_NAME, client.cookies[session.COOKIE_NAME])
    assert stranger.post(session.RENEW_PATH).status_code == 401

    client = _client(monkeypatch, database_url, "key-one")
    client.cookies.set(session.COOKIE_NAME, session.cookie_value(session_id))
    ended = client.get(session.END_PATH, follow_redirects=False)
    assert ended.status_code == 303 and ended.headers["location"] == "/"
    assert 'payops_session=""' in ended.headers["set-cookie"] and "Max-Age=0" in ended.headers["set-cookie"]
    with engine.connect() as conn:
        assert conn.execute(select(DashboardSession.ended_at)).scalar_one() is not None
    client.cookies.set(session.COOKIE_NAME, session.cookie_value(session_id))
    assert client.post(session.RENEW_PATH).status_code == 401


def _tampered(value: str) -> str:
    """The cookie with the first character of its signature changed. (Not the last: base64's last
    character partly encodes padding bits, so changing it can leave the decoded signature as it was.)"""
    head, _, signature = value.rpartition(".")
    first = signature[0]
    return f"{head}.{'A' if first != 'A' else 'B'}{signature[1:]}"


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda real: _tampered(session.cookie_value(real)), id="signature-changed"),
        pytest.param(lambda real: real, id="bare-session-id"),
        pytest.param(lambda real: session.cookie_value(real)[: len(real) // 2], id="cut-short"),
        pytest.param(lambda real: session.cookie_value(session.new_session_id()), id="signed-unknown-id"),
        pytest.param(lambda real: "", id="empty"),
        pytest.param(lambda real: "x" * 5000, id="oversized-junk"),
    ],
)
def test_a_tampered_or_forged_cookie_is_refused_and_signs_no_one_in(
    engine: Engine, database_url: str, monkeypatch: pytest.MonkeyPatch, forge: Callable[[str], str]
) -> None:
    client = _client(monkeypatch, database_url, "key-one")
    real = _new_session(engine)
    client.cookies.set(session.COOKIE_NAME, forge(real))
    refused = client.post(session.RENEW_PATH)
    assert refused.status_code == 401 and refused.json() == {"signed_in": False}
    assert "Max-Age=0" in refused.headers["set-cookie"]  # the forged cookie is cleared
    # A forged grant is refused too, and neither touches the real session.
    forged_grant = client.get(session.start_url(forge(real) or "x", "/"), follow_redirects=False)
    assert forged_grant.status_code == 403 and "set-cookie" not in forged_grant.headers
    client.cookies.set(session.COOKIE_NAME, session.cookie_value(real))
    assert client.post(session.RENEW_PATH).json() == {"signed_in": True}


def test_the_cookie_is_secure_when_configured_and_never_redirects_off_site(
    engine: Engine, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PAYOPS_SESSION_COOKIE_SECURE", "true")
    client = _client(monkeypatch, database_url, "key-one")
    for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:alert(1)"):
        grant = session.make_grant(_new_session(engine))
        response = client.get(f"{session.START_PATH}?grant={grant}&next={target}", follow_redirects=False)
        assert response.headers["location"] == "/", target
        assert "secure" in response.headers["set-cookie"].lower()


def test_an_idle_or_expired_session_is_refused_by_the_routes(
    engine: Engine, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = _client(monkeypatch, database_url, "key-one")
    idle = _new_session(engine)
    client.cookies.set(session.COOKIE_NAME, session.cookie_value(idle))
    with time_machine.travel(datetime.now(UTC) + timedelta(minutes=31), tick=True):
        assert client.post(session.RENEW_PATH).status_code == 401
    with engine.connect() as conn:
        assert conn.execute(select(DashboardSession.ended_at).where(DashboardSession.id == idle)).scalar_one()


def test_the_password_field_is_a_current_password_field_and_the_demo_says_where_users_are(
    app_for: AppFactory, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    at = app_for(None)
    assert at.text_input(key="sign_in_password").proto.autocomplete == "current-password"
    assert at.text_input(key="sign_in_name").proto.autocomplete == "username"
    assert DEMO_SIGN_IN_HINT not in [i.value for i in at.info]
    monkeypatch.setenv("PAYOPS_REPLAY_PROGRESS_FILE", str(tmp_path / "replay.json"))  # what `make demo` sets
    get_settings.cache_clear()
    demo = app_for(None)
    assert DEMO_SIGN_IN_HINT in [i.value for i in demo.info]
    assert "Creating the demo users" in DEMO_SIGN_IN_HINT
