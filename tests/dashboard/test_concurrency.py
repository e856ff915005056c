"""The dashboard under many sessions at once (issue 11 §4: a long-running instance broke itself): several
AppTest sessions in threads render every page over and over, then every page still renders; and a
"Run sync now" that cannot reach the API is recorded in sync_runs and shown on Sync status."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from dashboard.auth import SESSION_KEY, SignedInUser
from dashboard.roles import PAGES, ROLE_PAGES, Role
from data.models import SyncRun
from data.settings import get_settings
from tests.dashboard.conftest import APP, AppFactory, Seeded, page_path
from tests.dashboard.test_pages import period

SESSIONS = 4  # threads, each one browser tab's session
ROUNDS = 5  # every page of the role, this many times per session (about a minute on this machine)


def _session(role: Role, query: dict[str, str]) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.session_state[SESSION_KEY] = SignedInUser(name=f"{role.value}-load", role=role, method="password")
    at.query_params.update(query)
    return at.run()


def _visit_every_page(role: Role, query: dict[str, str], rounds: int, failures: list[str]) -> None:
    try:
        at = _session(role, query)
        for _ in range(rounds):
            for page in ROLE_PAGES[role]:
                try:
                    at.switch_page(page_path(page)).run()
                except KeyError:
                    # AppTest's own client-side widget bookkeeping (it replays the previous page's
                    # widget ids) can lose one under threads: that is the test client, not the app, so
                    # the page is opened again in a fresh session, as a browser would reconnect. What
                    # the page itself raises or shows is still checked below.
                    at = _session(role, query)
                    at.switch_page(page_path(page)).run()
                failures.extend(f"{role.value}/{page}: {e.value}" for e in at.exception)
                failures.extend(
                    f"{role.value}/{page}: {e.value}" for e in at.error if "went wrong" in e.value
                )
    except Exception as error:  # a session that dies is a failure too, not a silent thread
        failures.append(f"{role.value}: {type(error).__name__}: {error}")


@pytest.mark.slow(seconds=120)
def test_many_concurrent_sessions_then_every_page_still_renders(app_for: AppFactory, seeded: Seeded) -> None:
    app_for(None)  # points the app at the seeded database and users file
    failures: list[str] = []
    roles = [Role.ADMIN, Role.FINANCE, Role.OPERATIONS, Role.MANAGER]
    threads = [
        threading.Thread(
            target=_visit_every_page, args=(roles[i % len(roles)], period(seeded), ROUNDS, failures)
        )
        for i in range(SESSIONS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    after: list[str] = []
    _visit_every_page(Role.ADMIN, period(seeded), 1, after)
    assert after == []
    at = app_for(Role.ADMIN, "sync_status")
    assert [t.value for t in at.title] == [PAGES["sync_status"].title]


def test_a_failed_run_sync_now_is_recorded_and_shown(
    app_for: AppFactory, seeded: Seeded, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    at = app_for(Role.OPERATIONS, "sync_status")
    # A host no HTTP adapter serves: the run fails at once, as an unreachable API does after retries.
    monkeypatch.setenv("RAZORPAY_BASE_URL", "ftp://127.0.0.1")
    get_settings.cache_clear()
    with seeded.engine.connect() as conn:
        before = {row.id for row in conn.execute(select(SyncRun.id))}
    at.button(key="run_sync").click().run()
    assert not at.exception, [e.value for e in at.exception]
    failed = []
    for _ in range(240):  # until the background run has ended
        with seeded.engine.connect() as conn:
            failed = [
                row
                for row in conn.execute(select(SyncRun).where(SyncRun.trigger == "dashboard"))
                if row.id not in before and row.status != "running"
            ]
        if failed:
            break
        time.sleep(0.5)
    assert [row.status for row in failed] == ["failed"]
    assert failed[0].error
    for _ in range(60):  # the launcher's own outcome line follows the run's end
        at.run()
        captions = [c.value for c in at.caption if c.value.startswith("Last sync from this dashboard:")]
        if captions:
            break
        time.sleep(0.5)
    assert captions and captions[0].startswith("Last sync from this dashboard: failed"), captions
    table_text = " ".join(str(df.value.to_dict()) for df in at.dataframe)
    assert "failed" in table_text  # the run is in the page's run history too
    get_settings.cache_clear()
