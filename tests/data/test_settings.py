"""Settings: the receiver's rollup interval has its home here, read from the environment like the rest."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from data.settings import ROLLUP_INTERVAL_ENV, Settings


def test_the_receiver_rollup_interval_defaults_to_a_second(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ROLLUP_INTERVAL_ENV, raising=False)
    assert Settings().webhook_rollup_interval == 1.0


def test_the_receiver_rollup_interval_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ROLLUP_INTERVAL_ENV, "0")
    assert Settings().webhook_rollup_interval == 0.0
    monkeypatch.setenv(ROLLUP_INTERVAL_ENV, "-1")
    with pytest.raises(ValidationError):
        Settings()
