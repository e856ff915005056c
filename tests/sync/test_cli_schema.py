"""The sync CLI on a database that was never migrated: one line that names the fix, non-zero exit."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_sync_on_an_unmigrated_database_says_to_run_the_upgrade(tmp_path: Path) -> None:
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'fresh.db'}"}
    for command in (["run", "--entities", "payments"], ["status"]):
        result = subprocess.run(
            [sys.executable, "-m", "sync", *command],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 1
        assert result.stderr.strip().splitlines() == [
            "error: the database has no payops schema yet; run `python -m data upgrade` first"
        ]
