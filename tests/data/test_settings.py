"""Settings are the one home of configuration: the keys read from the environment."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from dashboard.users import users_file
from data.settings import (
    DEFAULT_FEE_RATE_RANGES,
    DEFAULT_USERS_FILE,
    ROLLUP_INTERVAL_ENV,
    Settings,
    get_settings,
)


def test_reconciliation_thresholds_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SETTLEMENT_DAYS", "2")
    monkeypatch.setenv("AUTHORIZED_DAYS", "5")
    monkeypatch.setenv("WEBHOOK_GRACE_MINUTES", "45")
    monkeypatch.setenv("FEE_RATE_RANGES", '{"card": [150, 300], "*": [0, 400]}')
    settings = Settings()
    assert (settings.settlement_days, settings.authorized_days, settings.webhook_grace_minutes) == (2, 5, 45)
    assert settings.fee_rate_ranges == {"card": (150, 300), "*": (0, 400)}


def test_threshold_defaults_and_bounds(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("SETTLEMENT_DAYS", "AUTHORIZED_DAYS", "WEBHOOK_GRACE_MINUTES", "FEE_RATE_RANGES"):
        monkeypatch.delenv(key, raising=False)
    settings = Settings()
    assert (settings.settlement_days, settings.authorized_days, settings.webhook_grace_minutes) == (3, 3, 30)
    assert settings.fee_rate_ranges == DEFAULT_FEE_RATE_RANGES
    monkeypatch.setenv("AUTHORIZED_DAYS", "-1")
    with pytest.raises(ValueError, match="authorized_days"):
        Settings()


def test_users_file_is_a_setting(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("PAYOPS_USERS_FILE", raising=False)
    get_settings.cache_clear()
    try:
        assert users_file() == DEFAULT_USERS_FILE
        monkeypatch.setenv("PAYOPS_USERS_FILE", str(tmp_path / "users.toml"))
        get_settings.cache_clear()
        assert users_file() == tmp_path / "users.toml"
    finally:
        get_settings.cache_clear()


def test_the_receiver_rollup_interval_defaults_to_a_second(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ROLLUP_INTERVAL_ENV, raising=False)
    assert Settings().webhook_rollup_interval == 1.0


def test_the_receiver_rollup_interval_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ROLLUP_INTERVAL_ENV, "0")
    assert Settings().webhook_rollup_interval == 0.0
    monkeypatch.setenv(ROLLUP_INTERVAL_ENV, "-1")
    with pytest.raises(ValidationError):
        Settings()
