"""While the demo replays the sandbox's webhook history, every page says how far it has got; once the
replay is done (or when none is configured, as in production) pages show no banner."""

from __future__ import annotations

from pathlib import Path

import pytest

from dashboard.replay import ReplayProgress, banner_text, read_progress
from dashboard.roles import Role
from data.settings import get_settings
from sandbox.sender import write_progress
from tests.dashboard.conftest import AppFactory


@pytest.fixture
def progress_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "demo-replay.json"
    monkeypatch.setenv("PAYOPS_REPLAY_PROGRESS_FILE", str(path))
    get_settings.cache_clear()
    return path


def banners(at: object) -> list[str]:
    return [info.value for info in at.info if "eplay" in info.value]  # type: ignore[attr-defined]


@pytest.mark.parametrize("page", ["overview", "webhook_health", "mismatches"])
def test_a_page_says_replay_in_progress_n_of_m_while_the_history_streams_in(
    app_for: AppFactory, progress_file: Path, page: str
) -> None:
    write_progress(progress_file, "replaying", 12_345, 151_200)
    at = app_for(Role.ADMIN, page)
    assert not at.exception, [e.value for e in at.exception]
    [banner] = banners(at)
    assert banner.startswith("Replay in progress: 12,345 of 1,51,200 webhook events sent.")


def test_the_banner_follows_the_replay_to_its_end(app_for: AppFactory, progress_file: Path) -> None:
    write_progress(progress_file, "starting", 0, 0)
    at = app_for(Role.OPERATIONS, "webhook_health")
    assert banners(at) == [banner_text(ReplayProgress("starting", 0, 0))]
    assert "starting" in banners(at)[0]
    write_progress(progress_file, "reconciling", 151_200, 151_200)
    at.run()
    assert "reconciliation is running again" in banners(at)[0]
    write_progress(progress_file, "done", 151_200, 151_200)
    at.run()
    assert banners(at) == []


def test_no_banner_without_a_configured_replay(app_for: AppFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PAYOPS_REPLAY_PROGRESS_FILE", raising=False)
    get_settings.cache_clear()
    at = app_for(Role.ADMIN)
    assert not at.exception
    assert banners(at) == []


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"{",
        b"[]",
        b'{"stage": "replaying"}',
        b'{"stage": "x", "events_done": 1, "events_total": 2}',
        b'{"stage": "replaying", "events_done": true, "events_total": 2}',
        b'{"stage": "replaying", "events_done": -1, "events_total": 2}',
    ],
)
def test_a_file_the_replay_did_not_write_is_not_read_as_progress(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "progress.json"
    path.write_bytes(content)
    assert read_progress(path) is None
    assert read_progress(tmp_path / "absent.json") is None


def test_a_failed_replay_says_how_far_it_got(tmp_path: Path) -> None:
    path = tmp_path / "progress.json"
    write_progress(path, "failed", 500, 2_000)
    progress = read_progress(path)
    assert progress == ReplayProgress("failed", 500, 2_000)
    assert "stopped after 500 of 2,000 events" in banner_text(progress)
