"""`python -m sandbox`: the manifest command prints the served manifest; bad input exits non-zero with one line."""

from __future__ import annotations

import subprocess
import sys

import orjson
import pytest

from tests.support.sandbox import PROJECT_ROOT, SandboxHandle


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sandbox", *args], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_manifest_command_prints_the_manifest(sandbox: SandboxHandle) -> None:
    done = run(
        "manifest", "--api", sandbox.base_url, "--key-id", sandbox.key_id, "--key-secret", sandbox.key_secret
    )
    assert done.returncode == 0, done.stderr
    assert orjson.loads(done.stdout) == sandbox.manifest()


@pytest.mark.parametrize(
    ("args", "reason", "code"),
    [
        (["serve", "--days", "0"], "--days and --payments-per-day must be at least 1", 2),
        (["serve", "--fault-5xx", "1.5"], "--fault-5xx must be between 0 and 1", 2),
        (["manifest", "--api", "http://127.0.0.1:9"], "cannot read the manifest", 1),
        (["webhooks", "--to", "http://127.0.0.1:9/x", "--secret", "s", "--limit", "0"], "--limit", 2),
    ],
)
def test_bad_input_exits_non_zero_with_one_line(args: list[str], reason: str, code: int) -> None:
    """Bad input exits 2; a sandbox that cannot be reached is a failed run, 1 (docs/cli.md)."""
    done = run(*args)
    assert done.returncode == code
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and reason in lines[0]
