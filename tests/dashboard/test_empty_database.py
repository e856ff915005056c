"""Every page on a migrated but empty database: no error, and a message that says what to do next."""

from __future__ import annotations

import pytest

from dashboard.roles import PAGES, Role
from tests.dashboard.conftest import AppFactory

NEXT_STEPS = {
    "overview": "python -m sync run",
    "success_rates": "python -m sync run",
    "failures": "python -m sync run",
    "webhook_health": "python -m sync.webhooks serve",
    "settlements": "python -m sync run",
    "mismatches": "python -m analytics reconcile",
    "payments": "Type a payment, order, refund or settlement id",
    "sync_status": "python -m sync run",
    "alerts": "python -m analytics alerts evaluate",
    "risk": "python -m sync run",
}


@pytest.mark.parametrize("page", list(PAGES))
def test_empty_page_says_what_to_do_next(empty_app_for: AppFactory, page: str) -> None:
    at = empty_app_for(Role.ADMIN, page)
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error
    assert [t.value for t in at.title] == [PAGES[page].title]
    assert any(NEXT_STEPS[page] in info.value for info in at.info), [i.value for i in at.info]
