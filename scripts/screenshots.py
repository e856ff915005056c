"""Retake docs/screenshots on a running demo: every page each role may see, signed in as that role, at
1280 px in headless Chromium; each page checked (no exception, no error, no cut headline value, no
"replay in progress" banner) before it is saved. One line per page; exit 1 if any page had a problem.

    make demo                      # in another terminal; note the users it prints
    .venv/bin/python -m scripts.screenshots --url http://127.0.0.1:8501 --demo-log demo.log

Passwords come from the demo's own output (`--demo-log`, the lines `python -m dashboard demo-users`
prints) or from PAYOPS_SCREENSHOTS_<ROLE>_PASSWORD; none is kept in the repo. Run it with `-m` from the
project root: it shares the browser tests' launch arguments, settle and cut checks (tests.browser).
"""

from __future__ import annotations

import argparse
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import streamlit.logger
from playwright.sync_api import Browser, Page, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
# The pages' cached queries, imported outside `streamlit run`, would each warn that there is no runtime.
streamlit.logger.set_log_level("error")

from dashboard.replay import read_progress  # noqa: E402 - after the log level
from dashboard.roles import PageSpec, Role, pages_for  # noqa: E402 - after the log level
from dashboard.users import DEMO_USERS  # noqa: E402 - after the log level
from tests.browser.test_dashboard_browser import CHROMIUM, CHROMIUM_ARGS, _settle, cut_headlines  # noqa: E402 - after the log level

# The banner every page shows until the demo's webhook history is replayed and reconciled (dashboard/replay.py).
_REPLAY_BANNER = re.compile(r"webhook history replay|replay in progress", re.IGNORECASE)
# Streamlit scrolls its main area inside the window, so a "full page" shot stops at the window's height;
# the window is made as tall as the page's content for the shot instead.
_CONTENT_HEIGHT = """() => Math.max(document.scrollingElement.scrollHeight,
    ...[...document.querySelectorAll('[data-testid="stMain"], [data-testid="stAppViewContainer"]')]
        .map(element => element.scrollHeight))"""
WIDTH, HEIGHT = 1280, 1600
# How `python -m dashboard demo-users` prints a user: "  <name> <password> <role>".
_DEMO_USER_LINE = re.compile(r"^\s+(\S+)\s+(\S+)\s+(" + "|".join(role.value for role in Role) + r")\s*$")


@dataclass(frozen=True)
class Login:
    role: Role
    name: str
    password: str


def logins(demo_log: Path | None) -> list[Login]:
    """One login per role: the demo's printed users, overridden by PAYOPS_SCREENSHOTS_<ROLE>_PASSWORD."""
    found: dict[Role, Login] = {}
    if demo_log is not None:
        for line in demo_log.read_text(errors="replace").splitlines():
            if matched := _DEMO_USER_LINE.match(line):
                role = Role(matched.group(3))
                found[role] = Login(role, matched.group(1), matched.group(2))  # the last printed wins
    for name, role in DEMO_USERS.items():
        password = os.environ.get(f"PAYOPS_SCREENSHOTS_{role.value.upper()}_PASSWORD")
        if password:
            found[role] = Login(
                role, os.environ.get(f"PAYOPS_SCREENSHOTS_{role.value.upper()}_NAME", name), password
            )
    return [found[role] for role in Role if role in found]


def wait_for_replay(progress_file: Path, timeout_s: float) -> None:
    """Until the demo's webhook replay and the reconciliation after it are done; pages are incomplete before."""
    deadline = time.monotonic() + timeout_s
    while (progress := read_progress(progress_file)) is not None and not progress.finished:
        if progress.stage == "failed":
            raise SystemExit(f"the webhook replay failed ({progress.events_done} of {progress.events_total})")
        if time.monotonic() > deadline:
            raise SystemExit(f"the webhook replay is still at {progress.stage} after {timeout_s:.0f} s")
        print(
            f"waiting for the webhook replay: {progress.stage} {progress.events_done} of {progress.events_total}"
        )
        time.sleep(10)


def refunded_payment_id(sandbox_url: str) -> str | None:
    """A payment with a refund, from the sandbox's API, so the Payments shot shows a whole story."""
    auth = (
        os.environ.get("RAZORPAY_KEY_ID", "rzp_test_sandbox"),
        os.environ.get("RAZORPAY_KEY_SECRET", "sandbox_key_secret"),
    )
    response = httpx.get(f"{sandbox_url}/v1/refunds", params={"count": 1}, auth=auth, timeout=30)
    response.raise_for_status()
    items = response.json().get("items") or []
    return str(items[0]["payment_id"]) if items else None


def sign_in(page: Page, url: str, login: Login, lands_on: str) -> None:
    page.goto(url)
    _settle(page)
    page.get_by_role("textbox", name="Name").fill(login.name)
    page.get_by_role("textbox", name="Password").fill(login.password)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name=lands_on).first.wait_for(timeout=120_000)
    _settle(page)


def problems_on(page: Page) -> list[str]:
    """What a reader of the shot would see as broken; [] when the page is fit for the docs."""
    problems: list[str] = []
    if count := page.locator('[data-testid="stException"]').count():
        problems.append(f"{count} exception(s)")
    errors = page.locator('[data-testid="stAlertContentError"]')
    problems += [f"error: {text.strip()[:120]}" for text in errors.all_inner_texts()]
    problems += [f"cut headline value: {value!r}" for value in cut_headlines(page)]
    if page.get_by_text(_REPLAY_BANNER).count():
        problems.append("the replay banner is showing (replay not finished)")
    return problems


def shoot(page: Page, directories: list[Path], key: str) -> None:
    """The whole page, WIDTH wide, saved as <key>.png in each directory."""
    height = int(page.evaluate(_CONTENT_HEIGHT))
    if height > HEIGHT:
        page.set_viewport_size({"width": WIDTH, "height": height})
        _settle(page)  # charts redraw at the new size
    for directory in directories:
        page.screenshot(path=str(directory / f"{key}.png"), full_page=True)
    page.set_viewport_size({"width": WIDTH, "height": HEIGHT})


def shoot_role(browser: Browser, url: str, login: Login, out: Path, payment_id: str | None) -> int:
    """Every page the role may see, saved to out/<role>/<page>.png (and out/<page>.png for admin); how
    many had a problem."""
    pages: list[PageSpec] = pages_for(login.role)
    page = browser.new_page(viewport={"width": WIDTH, "height": HEIGHT})
    failed = 0
    try:
        sign_in(page, url, login, lands_on=pages[0].title)
        (out / login.role.value).mkdir(parents=True, exist_ok=True)
        for spec in pages:
            page.get_by_test_id("stSidebarNav").get_by_role("link", name=spec.title).click()
            page.get_by_role("heading", name=spec.title).first.wait_for(timeout=120_000)
            _settle(page)
            if spec.key == "payments" and payment_id:
                page.get_by_role("textbox", name="Search").fill(payment_id)
                page.keyboard.press("Enter")
                page.get_by_role("heading", name="Timeline").wait_for(timeout=120_000)
                _settle(page)
            problems = problems_on(page)
            shoot(page, [out / login.role.value] + ([out] if login.role is Role.ADMIN else []), spec.key)
            print(
                f"{login.role.value}\t{spec.key}\t{'problem: ' + '; '.join(problems) if problems else 'ok'}"
            )
            failed += bool(problems)
    finally:
        page.close()
    return failed


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", default="http://127.0.0.1:8501", help="the demo's dashboard")
    parser.add_argument("--demo-log", type=Path, help="the demo's output, with the users it printed")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--replay-progress", type=Path, default=ROOT / "data" / "demo-replay.json")
    parser.add_argument("--replay-timeout", type=float, default=3600, help="seconds to wait for the replay")
    parser.add_argument("--sandbox", help="the demo's sandbox API, to search a refunded payment on Payments")
    parser.add_argument("--role", action="append", choices=[role.value for role in Role], help="only these")
    args = parser.parse_args()

    wanted = {Role(value) for value in args.role} if args.role else set(Role)
    chosen = [login for login in logins(args.demo_log) if login.role in wanted]
    missing = wanted - {login.role for login in chosen}
    if missing:
        names = ", ".join(sorted(role.value for role in missing))
        parser.error(f"no password for {names}: pass --demo-log or set PAYOPS_SCREENSHOTS_<ROLE>_PASSWORD")
    wait_for_replay(args.replay_progress, args.replay_timeout)
    payment_id = refunded_payment_id(args.sandbox) if args.sandbox else None

    failed = 0
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for login in chosen:
                failed += shoot_role(browser, args.url.rstrip("/"), login, args.out, payment_id)
        finally:
            browser.close()
    print(f"{failed} page(s) with problems" if failed else "every page ok")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
