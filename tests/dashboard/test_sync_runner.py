"""'Run sync now' clears the cached reads when the run ends, so the pages show the new run's figures."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from dashboard.sync_runner import SyncLauncher
from data.db import make_engine
from data.migrate import upgrade
from data.settings import get_settings


@pytest.mark.slow
def test_the_launcher_calls_back_when_the_run_ends(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A host no HTTP adapter serves: the run fails at once (no retries), and must still call back.
    monkeypatch.setenv("RAZORPAY_BASE_URL", "ftp://127.0.0.1")
    get_settings.cache_clear()
    engine = make_engine(f"sqlite:///{tmp_path / 'payops.db'}")
    upgrade(engine)
    finished = threading.Event()
    launcher = SyncLauncher()
    try:
        assert launcher.start(engine, "ops", on_finish=finished.set)
        assert launcher.thread is not None
        launcher.thread.join(timeout=300)
        assert finished.is_set()
        assert launcher.outcome is not None and launcher.outcome.startswith("failed")
    finally:
        get_settings.cache_clear()
        engine.dispose()
