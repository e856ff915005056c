"""`python -m sync.webhooks serve` refuses, with a one-line reason, to start where it could not work."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from data.settings import ROLLUP_INTERVAL_ENV, get_settings
from sync.webhooks.__main__ import cli


@pytest.fixture(autouse=True)
def fresh_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # serve() puts --database-url into the environment for its workers; keep that out of other tests.
    monkeypatch.setenv("DATABASE_URL", "sqlite:////nonexistent/never-used.db")
    monkeypatch.delenv(ROLLUP_INTERVAL_ENV, raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()  # nothing may keep settings read from this test's environment


@pytest.mark.parametrize(
    ("arguments", "reason", "code"),
    [
        (
            ["--database-url", "{tmp}/unmigrated.db"],
            "database has no payops schema: run `python -m data upgrade`",
            1,
        ),
        (["--database-url", "postgresql://postgres@127.0.0.1:1/none"], "database not reachable", 1),
        (["--database-url", "not a url"], "bad database URL", 2),
    ],
)
def test_serve_refuses_a_database_it_cannot_use(
    tmp_path: Path, arguments: list[str], reason: str, code: int
) -> None:
    """A database that cannot be used is a failed run (1); a URL that is not one is bad input (2)."""
    arguments = [a.replace("{tmp}", f"sqlite:///{tmp_path}") for a in arguments]
    result = CliRunner().invoke(cli, ["serve", *arguments])
    assert result.exit_code == code
    [line] = result.output.strip().splitlines()
    assert line.startswith(f"error: {reason}")
    get_settings.cache_clear()


def test_serve_refuses_to_start_without_a_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAZORPAY_WEBHOOK_SECRET", " , ")
    get_settings.cache_clear()
    result = CliRunner().invoke(cli, ["serve"])
    assert result.exit_code == 2
    assert result.output.strip() == "error: no webhook secret configured: set RAZORPAY_WEBHOOK_SECRET"
    get_settings.cache_clear()


def test_serve_rejects_a_bad_port() -> None:
    result = CliRunner().invoke(cli, ["serve", "--port", "70000"])
    assert result.exit_code == 2
    assert "--port" in result.output
