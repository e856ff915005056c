"""Sign-in sessions in a real browser against two dashboard replicas (`streamlit run dashboard/server.py`,
one database, one PAYOPS_SESSION_KEY): a shared link opens its page with its filters after sign-in, a
refresh keeps the session, the other replica accepts it, sign-out ends it, and a short idle timeout
ends an idle one."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from analytics.reconcile import reconcile
from dashboard.roles import PAGES, ROLE_PAGES, Role
from dashboard.users import add_user
from data.db import make_engine
from data.migrate import upgrade
from tests.browser.test_dashboard_browser import CHROMIUM, CHROMIUM_ARGS, _free_port, _settle, _wait_healthy
from tests.support.dashboard_seed import seed_dashboard_database

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "session-test-password"
SESSION_KEY = "browser-test-session-key-not-a-real-one"
# A shared link: a page other than Overview, with filters in its query string.
LINK_QUERY = "period=last_30_days&method=upi"


@dataclass(frozen=True)
class Replicas:
    first: str
    second: str
    short_idle: str  # a third replica whose sessions end after 30 idle seconds


def _dashboard(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "dashboard/server.py", "--server.headless", "true",
         "--server.port", str(port), "--server.address", "127.0.0.1"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


@pytest.fixture(scope="module")
def replicas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replicas]:
    directory = tmp_path_factory.mktemp("session-browser")
    database_url = f"sqlite:///{directory / 'payops.db'}"
    engine = make_engine(database_url)
    upgrade(engine)
    now = datetime.now(UTC)  # the session's pinned clock
    seed_dashboard_database(engine, now=now)
    reconcile(engine, now=now)
    engine.dispose()
    users = directory / "users.toml"
    for role in Role:
        add_user(role.value, role, PASSWORD, path=users, rounds=4)
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "PAYOPS_USERS_FILE": str(users),
        "PAYOPS_SESSION_KEY": SESSION_KEY,
    }
    ports = [_free_port() for _ in range(3)]
    processes = [_dashboard(env, ports[0]), _dashboard(env, ports[1])]
    processes.append(_dashboard({**env, "PAYOPS_SESSION_IDLE_MINUTES": "0.5"}, ports[2]))
    try:
        urls = [f"http://127.0.0.1:{port}" for port in ports]
        for url, process in zip(urls, processes, strict=True):
            _wait_healthy(f"{url}/_stcore/health", process)
        yield Replicas(*urls)
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=30)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def _sign_in_form(page: Page, name: str) -> None:
    page.get_by_role("textbox", name="Name").fill(name)
    password = page.get_by_role("textbox", name="Password")
    assert password.get_attribute("autocomplete") == "current-password"
    password.fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def _open_link(page: Page, url: str) -> None:
    page.goto(url)
    _settle(page)


def _signed_in_as(page: Page, name: str) -> bool:
    return page.get_by_text(f"Signed in as {name}").count() == 1


def _method_filter(page: Page) -> str:
    """The option the filter bar's Method select box holds (drawn as the value of its input)."""
    return page.locator(".st-key-filter_method input").first.input_value()


@pytest.mark.parametrize("role", list(Role))
def test_a_shared_link_opens_its_page_after_sign_in_and_survives_refresh_and_replicas(
    browser: Browser, replicas: Replicas, role: Role
) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    allowed = ROLE_PAGES[role]
    first_key = next(key for key in allowed if key != "overview")
    first = PAGES[first_key]
    _open_link(page, f"{replicas.first}/{first.url_path}?{LINK_QUERY}")
    assert page.get_by_role("dialog").count() == 0  # no "Page not found"
    _sign_in_form(page, role.value)
    page.get_by_role("heading", name=first.title).first.wait_for(timeout=60_000)
    _settle(page)
    # The page keeps the link's filters it has (Settlements has no method filter, so drops that one).
    assert f"/{first.url_path}?" in page.url and "period=last_30_days" in page.url
    cookie = next(c for c in context.cookies() if c["name"] == "payops_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"

    for key in allowed:
        spec = PAGES[key]
        for base in (replicas.first, replicas.second):  # a refresh, and a request on another replica
            _open_link(page, f"{base}/{spec.url_path}?{LINK_QUERY}")
            page.get_by_role("heading", name=spec.title).first.wait_for(timeout=60_000)
            _settle(page)
            assert _signed_in_as(page, role.value), (key, base)
            assert page.locator('[data-testid="stException"]').count() == 0, key
            if page.locator(".st-key-filter_method input").count():  # pages with the filter bar's Method
                assert _method_filter(page) == "UPI", key  # the option in words; the link keeps the code

    forbidden = [key for key in PAGES if key not in allowed]
    for key in forbidden[:1]:
        _open_link(page, f"{replicas.second}/{PAGES[key].url_path}")
        page.get_by_text("This page is not for your role").wait_for(timeout=60_000)
        assert page.get_by_role("dialog").count() == 0

    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("button", name="Sign in").wait_for(timeout=60_000)
    page.wait_for_url(f"{replicas.second}/", timeout=60_000)  # through /api/session/end, which clears it
    assert not [c for c in context.cookies() if c["name"] == "payops_session"]
    _open_link(page, f"{replicas.first}/{first.url_path}")
    page.get_by_role("button", name="Sign in").wait_for(timeout=60_000)  # ended on every replica
    assert not _signed_in_as(page, role.value)
    context.close()


def test_an_idle_session_ends_after_the_idle_timeout(browser: Browser, replicas: Replicas) -> None:
    context = browser.new_context()
    page = context.new_page()
    _open_link(page, f"{replicas.short_idle}/")
    _sign_in_form(page, "admin")
    page.get_by_role("heading", name="Overview").first.wait_for(timeout=60_000)
    _settle(page)
    page.reload()
    page.get_by_role("heading", name="Overview").first.wait_for(timeout=60_000)
    _settle(page)
    assert _signed_in_as(page, "admin")
    page.wait_for_timeout(45_000)  # idle for longer than the replica's 30-second timeout
    page.reload()
    page.get_by_role("button", name="Sign in").wait_for(timeout=60_000)
    assert not _signed_in_as(page, "admin")
    context.close()
