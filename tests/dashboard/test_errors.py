"""An unexpected error on one page: a short message with a reference for the user, the traceback in the
log, and the rest of the app (navigation, sign-out, other pages) still there."""

from __future__ import annotations

import logging
import tomllib
from pathlib import Path

import pytest

from dashboard import queries
from dashboard.roles import Role
from tests.dashboard.conftest import AppFactory, page_path

CONFIG = Path(__file__).resolve().parents[2] / ".streamlit" / "config.toml"


def test_a_failing_page_shows_a_short_message_and_logs_the_detail(
    app_for: AppFactory, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("database said something with /secret/path in it")

    monkeypatch.setattr(queries, "kpis", broken)
    with caplog.at_level(logging.ERROR, logger="payops.dashboard"):
        at = app_for(Role.ADMIN)

    assert not at.exception, [e.value for e in at.exception]
    [message] = [e.value for e in at.error]
    assert "Something went wrong on this page" in message
    assert "/secret/path" not in message and "Traceback" not in message
    reference = message.split("reference **")[1].split("**")[0]
    [record] = [r for r in caplog.records if r.name == "payops.dashboard"]
    assert reference in record.getMessage()
    assert record.exc_info is not None and "/secret/path" in str(record.exc_info[1])
    assert at.button(key="sign_out").label == "Sign out"  # the router's own elements are still drawn

    at.switch_page(page_path("mismatches")).run()  # another page still works
    assert not at.exception and not at.error
    assert [t.value for t in at.title] == ["Mismatches"]


def test_production_config_hides_tracebacks_from_users() -> None:
    config = tomllib.loads(CONFIG.read_text())
    assert config["client"]["showErrorDetails"] == "none"
