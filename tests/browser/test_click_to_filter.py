"""Real clicks on real plotly bars in Debian's Chromium: a bar on Mismatches filters by its rule, a bar
on Success rates drills into its payment mode, and neither raises (the AppTest side is
tests/dashboard/test_click_to_filter.py)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from analytics.reconcile import reconcile
from dashboard.roles import Role
from dashboard.users import add_user
from data.db import make_engine
from data.migrate import upgrade
from tests.support.clock import TEST_NOW
from tests.support.dashboard_seed import seed_dashboard_database

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
PASSWORD = "click-test-password"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def dashboard_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`streamlit run dashboard/server.py` on the seeded, reconciled test database."""
    directory = tmp_path_factory.mktemp("clicks")
    database_url = f"sqlite:///{directory / 'payops.db'}"
    engine = make_engine(database_url)
    upgrade(engine)
    seed_dashboard_database(engine, now=TEST_NOW)
    reconcile(engine, now=TEST_NOW)
    engine.dispose()
    users = directory / "users.toml"
    for role in Role:
        add_user(role.value, role, PASSWORD, path=users, rounds=4)
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "PAYOPS_USERS_FILE": str(users)}
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "dashboard/server.py", "--server.headless", "true",
         "--server.port", str(port), "--server.address", "127.0.0.1"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):
            assert server.poll() is None, "streamlit exited"
            try:
                if httpx.get(f"{url}/_stcore/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        yield browser
        browser.close()


def _settle(page: Page) -> None:
    """Until Streamlit has finished the run: no running indicator, twice in a row."""
    busy = '[data-testid="stStatusWidget"], [data-testid="stSkeleton"]'
    quiet = 0
    for _ in range(240):
        page.wait_for_timeout(500)
        quiet = quiet + 1 if page.locator(busy).count() == 0 else 0
        if quiet == 2:
            return
    raise AssertionError("the app never finished running")


def _open(page: Page, url: str, role: str, title: str) -> None:
    page.goto(url)
    _settle(page)
    page.get_by_role("textbox", name="Name").wait_for(timeout=90_000)
    page.get_by_role("textbox", name="Name").fill(role)
    page.get_by_role("textbox", name="Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Overview").wait_for(timeout=60_000)
    _settle(page)
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=title).click()
    page.get_by_role("heading", name=title).first.wait_for(timeout=60_000)
    _settle(page)


def _click_first_bar(page: Page, chart: int = 0) -> None:
    """Click the middle of the first bar of the page's `chart`-th plotly chart, as a user would."""
    bar = page.locator('[data-testid="stPlotlyChart"]').nth(chart).locator("g.point path").first
    bar.wait_for(timeout=30_000)
    box = bar.bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    _settle(page)


def _no_error(page: Page) -> None:
    assert page.locator('[data-testid="stException"]').count() == 0
    assert page.locator('[data-testid="stAlertContentError"]').count() == 0


def test_clicking_a_bar_on_mismatches_filters_by_its_rule(browser: Browser, dashboard_url: str) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 1400})
    _open(page, dashboard_url, "finance", "Mismatches")
    _click_first_bar(page)
    _no_error(page)
    page.wait_for_url("**rule=**", timeout=30_000)  # the rule filter took the bar's rule
    _settle(page)
    (ROOT / "artifacts").mkdir(exist_ok=True)
    page.screenshot(path=str(ROOT / "artifacts" / "click-mismatches.png"), full_page=True)
    assert page.get_by_test_id("stSidebar").get_by_text("All rules").count() == 0
    page.close()


def test_clicking_a_bar_on_success_rates_drills_into_it(browser: Browser, dashboard_url: str) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 1400})
    _open(page, dashboard_url, "manager", "Success rates")
    _click_first_bar(page, chart=1)  # the trend is chart 0; the by-mode bars are chart 1
    _no_error(page)
    # The picker took the bar; its payments are listed below it, with their own CSV (the third).
    page.get_by_role("button", name="Prepare CSV").nth(2).wait_for(timeout=30_000)
    page.screenshot(path=str(ROOT / "artifacts" / "click-success-rates.png"), full_page=True)
    page.close()


def test_the_world_map_draws_with_no_internet(browser: Browser, dashboard_url: str) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 1400})
    fetched: list[str] = []
    page.on("request", lambda request: fetched.append(request.url))
    # Only the dashboard itself is reachable, as on a machine with no internet.
    page.route(lambda url: not url.startswith(dashboard_url), lambda route: route.abort())
    _open(page, dashboard_url, "manager", "Success rates")
    world = page.locator('[data-testid="stPlotlyChart"]').filter(has=page.locator(".geo")).first
    world.scroll_into_view_if_needed()
    world.locator("path.choroplethlocation").first.wait_for(timeout=30_000)
    assert world.locator("path.choroplethlocation").count() >= 1
    assert any(url.endswith("/app/static/topojson/world_110m.json") for url in fetched)
    world.screenshot(path=str(ROOT / "artifacts" / "world-map-offline.png"))
    _no_error(page)
    page.close()


# Every page this work touched, as each role that sees it, for a person to look at (artifacts/).
TOUCHED = {
    "finance": ["Overview", "Settlements", "Mismatches", "Payments"],
    "manager": ["Success rates", "Failures"],
    "operations": ["Sync status", "Mismatches"],
}


def test_screenshots_of_the_touched_pages(browser: Browser, dashboard_url: str) -> None:
    out = ROOT / "artifacts" / "screenshots-dasha"
    out.mkdir(parents=True, exist_ok=True)
    for role, titles in TOUCHED.items():
        # Tall: Streamlit scrolls inside its own container, so a full-page shot is only the viewport.
        page = browser.new_page(viewport={"width": 1280, "height": 3200})
        _open(page, dashboard_url, role, titles[0])
        for title in titles:
            page.get_by_test_id("stSidebarNav").get_by_role("link", name=title).click()
            page.get_by_role("heading", name=title).first.wait_for(timeout=60_000)
            _settle(page)
            _no_error(page)
            page.screenshot(path=str(out / f"{role}-{title.lower().replace(' ', '_')}.png"), full_page=True)
        page.close()
