"""A real `streamlit run dashboard/server.py` driven by Debian's Chromium: sign in, visit every page, change
a filter (and see it in the URL), download a CSV, and save screenshots for the docs; and, for every role,
every "Prepare CSV" on every page it may see, downloaded through its one-time link with every row."""

from __future__ import annotations

import csv
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, sync_playwright
from pydantic import SecretStr
from sqlalchemy import select

from analytics.reconcile import reconcile
from dashboard.downloads import EXPORT_PATH
from dashboard.roles import PAGES, Role, pages_for
from dashboard.users import add_user
from data.db import make_engine
from data.migrate import upgrade
from data.models import Payment, SyncRun
from data.settings import Settings
from sync.http import make_client
from sync.pull import SyncOptions, run_sync
from tests.support.sandbox import SandboxHandle

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
# Test runs write to artifacts/ (git-ignored); PAYOPS_SCREENSHOTS_DIR=docs/screenshots refreshes the docs.
SCREENSHOTS = Path(os.environ.get("PAYOPS_SCREENSHOTS_DIR", ROOT / "artifacts" / "screenshots"))
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = "browser-test-password"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


DATABASE_URLS: dict[str, str] = {}


def refunded_payment_id(dashboard_url: str) -> str:
    with make_engine(DATABASE_URLS[dashboard_url]).connect() as conn:
        return str(conn.execute(select(Payment.id).where(Payment.status == "refunded").limit(1)).scalar_one())


def _wait_healthy(url: str, process: subprocess.Popen[bytes]) -> None:
    for _ in range(240):
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{url} did not become healthy")


@pytest.fixture(scope="module")
def dashboard_url(tmp_path_factory: pytest.TempPathFactory, sandbox: SandboxHandle) -> Iterator[str]:
    """The demo's path end to end: sandbox API → sync; sandbox webhooks → the receiver; reconcile; then
    `streamlit run dashboard/server.py` on that database."""
    directory = tmp_path_factory.mktemp("browser")
    database_url = f"sqlite:///{directory / 'payops.db'}"
    engine = make_engine(database_url)
    upgrade(engine)
    settings = Settings(
        database_url=database_url,
        razorpay_base_url=sandbox.base_url,
        razorpay_key_id=sandbox.key_id,
        razorpay_key_secret=SecretStr(sandbox.key_secret),
    )
    run_sync(engine, make_client(settings), SyncOptions(trigger="cli"))
    users = directory / "users.toml"
    for role in Role:
        add_user(role.value, role, PASSWORD, path=users, rounds=4)
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "PAYOPS_USERS_FILE": str(users),
        "RAZORPAY_BASE_URL": sandbox.base_url,
        "RAZORPAY_WEBHOOK_SECRET": sandbox.webhook_secret,
    }
    receiver_port, dashboard_port = _free_port(), _free_port()
    receiver = subprocess.Popen(
        [sys.executable, "-m", "sync.webhooks", "serve", "--host", "127.0.0.1", "--port", str(receiver_port)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "dashboard/server.py", "--server.headless", "true",
         "--server.port", str(dashboard_port), "--server.address", "127.0.0.1"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        _wait_healthy(f"http://127.0.0.1:{receiver_port}/healthz", receiver)
        # The whole history (10 days), as the demo does: a partial replay would leave events "missing".
        subprocess.run(
            [sys.executable, "-m", "sandbox", "webhooks", "--to", f"http://127.0.0.1:{receiver_port}/webhooks/razorpay",
             "--secret", sandbox.webhook_secret, "--api", sandbox.base_url, "--since-days", "11",
             "--key-id", sandbox.key_id, "--key-secret", sandbox.key_secret],
            cwd=ROOT, env=env, check=True, capture_output=True, timeout=600,
        )  # fmt: skip
        reconcile(engine)
        engine.dispose()
        url = f"http://127.0.0.1:{dashboard_port}"
        _wait_healthy(f"{url}/_stcore/health", server)
        DATABASE_URLS[url] = database_url
        yield url
    finally:
        for process in (server, receiver):
            process.terminate()
            process.wait(timeout=30)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def _settle(page: Page) -> None:
    """Wait until Streamlit has finished the current run: no running indicator, no placeholder skeletons,
    twice in a row half a second apart."""
    busy = '[data-testid="stStatusWidget"], [data-testid="stSkeleton"]'
    quiet = 0
    for _ in range(240):
        page.wait_for_timeout(500)
        quiet = quiet + 1 if page.locator(busy).count() == 0 else 0
        if quiet == 2:
            return
    raise AssertionError("the app never finished running")


def _sign_in(page: Page, url: str, name: str, path: str = "", lands_on: str = "Overview") -> None:
    page.goto(f"{url}/{path}")
    _settle(page)
    # Before sign-in every page's URL shows the sign-in form (no "Page not found"); after it, that page.
    page.get_by_role("textbox", name="Name").fill(name)
    page.get_by_role("textbox", name="Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name=lands_on).first.wait_for(timeout=60_000)
    _settle(page)


# A metric card's value that the browser cut off with "…": some element inside it wider than its box.
_CUT_VALUES = """() => [...document.querySelectorAll('[data-testid="stMetricValue"]')]
    .filter(value => [value, ...value.querySelectorAll('*')].some(e => e.scrollWidth > e.clientWidth + 1))
    .map(value => value.innerText)"""


def cut_headlines(page: Page) -> list[str]:
    """The headline card values on the page that do not show whole."""
    return list(page.evaluate(_CUT_VALUES))


def test_admin_visits_every_page_changes_a_filter_and_downloads_a_csv(
    browser: Browser, dashboard_url: str, tmp_path: Path
) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    # 1280 px wide: the narrowest width the headline cards are laid out for (issue 12).
    page = browser.new_page(viewport={"width": 1280, "height": 1600}, accept_downloads=True)
    _sign_in(page, dashboard_url, "admin")
    assert page.get_by_text("Signed in as").is_visible()

    for key, spec in PAGES.items():
        page.get_by_test_id("stSidebarNav").get_by_role("link", name=spec.title).click()
        page.get_by_role("heading", name=spec.title).first.wait_for(timeout=60_000)
        _settle(page)
        if key == "payments":
            page.get_by_role("textbox", name="Search").fill(refunded_payment_id(dashboard_url))
            page.keyboard.press("Enter")
            page.get_by_role("heading", name="Timeline").wait_for(timeout=60_000)
            _settle(page)
        assert page.locator('[data-testid="stException"]').count() == 0, key
        assert page.locator('[data-testid="stAlertContentError"]').count() == 0, key
        assert page.locator('[data-testid="stMetricValue"]').count() > 0 or key != "overview", key
        assert cut_headlines(page) == [], key
        page.screenshot(path=str(SCREENSHOTS / f"{key}.png"), full_page=True)

    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Overview").click()
    _settle(page)
    page.get_by_test_id("stSidebar").get_by_test_id("stSelectbox").filter(has_text="Method").click()
    page.get_by_role("option", name="UPI", exact=True).click()  # the code in words; the URL keeps "upi"
    page.wait_for_url("**method=upi**", timeout=60_000)  # the filter is now part of the shareable link
    _settle(page)

    # No file exists until it is prepared (and audited); then its one-time download link appears.
    assert page.get_by_role("link", name="Download CSV").count() == 0
    page.get_by_role("button", name="Prepare CSV").first.click()
    _settle(page)
    link = page.locator(f'a[href^="{EXPORT_PATH}/"]')
    with page.expect_download() as download_info:
        link.click()
    saved = tmp_path / "overview.csv"
    download_info.value.save_as(saved)
    assert saved.read_text().splitlines()[0].startswith("Currency,Attempts,Successes")
    # The link was good once: the same URL again is refused, and the page offers "Prepare CSV" anew.
    assert page.request.get(f"{dashboard_url}{link.get_attribute('href')}").status == 404
    page.close()


_COUNT = re.compile(r"(\d[\d,]*) rows?\b")


def _named_rows(text: str) -> int:
    """The row count a button or link names: "Prepare CSV (1,234 rows)", "… of the 1 row filtered …"."""
    found = _COUNT.search(text)
    assert found is not None, text
    return int(found.group(1).replace(",", ""))


def _prepare_keys(page: Page) -> list[str]:
    """The widget keys of the visible "Prepare CSV" buttons (Streamlit puts `st-key-<key>` on each)."""
    keys: list[str] = []
    for element in page.locator('[class*="st-key-prepare_"]').all():
        if element.is_visible():
            classes = (element.get_attribute("class") or "").split()
            keys += [c.removeprefix("st-key-") for c in classes if c.startswith("st-key-prepare_")]
    return keys


def _download_every_csv(page: Page, base_url: str, where: str, tmp_path: Path) -> int:
    """Press every visible "Prepare CSV" on the page, download its link, and check the file: its header
    and as many rows as the link says, which is what the button said (the table's whole count)."""
    done: set[str] = set()
    for closed in page.locator('[data-testid="stExpander"] details:not([open]) > summary').all():
        if closed.is_visible():
            closed.click()  # opened in the browser only: no rerun, no change to what the page shows
    while pending := [key for key in _prepare_keys(page) if key not in done]:
        key = pending[0]
        button = page.locator(f".st-key-{key}").get_by_role("button", name=re.compile("^Prepare CSV"))
        promised = _named_rows(button.inner_text())
        button.click()
        link = page.locator(f'a[href^="{EXPORT_PATH}/"]')
        # The rerun the click starts may not have begun when _settle first looks (a loaded machine):
        # wait for the link itself, then for the run to end.
        link.first.wait_for(timeout=60_000)
        _settle(page)
        assert link.count() == 1, (where, key)
        assert _named_rows(link.inner_text()) == promised, (where, key, link.inner_text())
        with page.expect_download() as download_info:
            link.click()
        saved = tmp_path / f"{where}-{key}.csv"
        download_info.value.save_as(saved)
        with saved.open(encoding="utf-8", newline="") as handle:
            header, *rows = list(csv.reader(handle))
        assert header and all(cell.strip() for cell in header), (where, key, header)
        assert not any("_" in cell for cell in header if cell.islower()), (where, key, header)
        assert len(rows) == promised, (where, key, len(rows), promised)
        done.add(key)
    return len(done)


@pytest.mark.parametrize("role", list(Role), ids=[role.value for role in Role])
def test_every_csv_on_every_page_downloads_once_with_every_row(
    browser: Browser, dashboard_url: str, tmp_path: Path, role: Role
) -> None:
    page = browser.new_page(viewport={"width": 1440, "height": 1600}, accept_downloads=True)
    _sign_in(page, dashboard_url, role.value)
    downloaded: dict[str, int] = {}
    for spec in pages_for(role):
        page.get_by_test_id("stSidebarNav").get_by_role("link", name=spec.title).click()
        page.get_by_role("heading", name=spec.title).first.wait_for(timeout=60_000)
        _settle(page)
        if spec.key == "payments":
            page.get_by_role("textbox", name="Search").fill(refunded_payment_id(dashboard_url))
            page.keyboard.press("Enter")
            page.get_by_role("heading", name="Timeline").wait_for(timeout=60_000)
            _settle(page)
        tabs = page.get_by_role("tab")
        for tab in [None, *tabs.all()[1:]]:  # a tab's exports are visible only while it is open
            if tab is not None:
                tab.click()
                _settle(page)
            where = spec.key if tab is None else f"{spec.key}-{tab.inner_text().strip().lower()}"
            downloaded[where] = _download_every_csv(page, dashboard_url, where, tmp_path)
        assert page.locator('[data-testid="stException"]').count() == 0, spec.key
    # Pages with no rows for the demo data (no alert fired, no dispute) draw no table and no export.
    assert sum(downloaded.values()) >= 3, downloaded
    page.close()


def test_operations_runs_the_sync_from_the_dashboard(browser: Browser, dashboard_url: str) -> None:
    page = browser.new_page(viewport={"width": 1440, "height": 1000})
    _sign_in(page, dashboard_url, "operations")
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Sync status").click()
    page.get_by_role("heading", name="Sync status").first.wait_for(timeout=60_000)
    _settle(page)
    page.get_by_role("button", name="Run sync now").click()
    _settle(page)
    for _ in range(60):
        if page.get_by_text("Last sync from this dashboard: run #").count():
            break
        page.get_by_role("button", name="Refresh").click()
        _settle(page)
    assert page.get_by_text("succeeded").first.is_visible()
    page.close()
    with make_engine(DATABASE_URLS[dashboard_url]).connect() as conn:
        triggers = [row.trigger for row in conn.execute(select(SyncRun.trigger, SyncRun.status))]
    assert "dashboard" in triggers


def test_a_link_to_a_forbidden_page_says_it_is_not_for_the_role(browser: Browser, dashboard_url: str) -> None:
    page = browser.new_page()
    _sign_in(page, dashboard_url, "manager", path="settlements", lands_on="Settlements")
    page.get_by_text("This page is not for your role (manager)").wait_for(timeout=60_000)
    assert page.get_by_role("dialog").count() == 0
    assert page.get_by_text("Gross").count() == 0  # none of the page's own content
    nav = page.get_by_test_id("stSidebarNav")
    assert [nav.get_by_role("link", name=t).count() for t in ("Settlements", "Payments", "Sync status")] == [
        0,
        0,
        0,
    ]
    assert nav.get_by_role("link", name="Success rates").count() == 1
    page.close()
