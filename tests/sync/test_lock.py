"""Two `python -m sync run` started together against one database: one syncs, the other reports the
run that holds the lease and exits 4 (or, with --wait, runs after it); the data is exact either way."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import Engine, select

from data.models import SyncLease, SyncRun
from tests.support.sandbox import SandboxHandle
from tests.support.sync_helpers import PROJECT_ROOT, SAFETY_LAG, assert_parity, cli_env, sandbox_until

# Every API request takes this long, so the first run is still going when the second one starts.
SLOW_SECONDS = 0.4


def _start_two(env: dict[str, str], args: list[str]) -> list[subprocess.CompletedProcess[str]]:
    command = [sys.executable, "-m", "sync", *args]
    processes = [
        subprocess.Popen(
            command, cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    finished = []
    for process in processes:
        out, err = process.communicate(timeout=600)
        finished.append(subprocess.CompletedProcess(process.args, process.returncode, out, err))
    return finished


@pytest.fixture
def slow_sandbox(sandbox_factory: Callable[..., SandboxHandle]) -> SandboxHandle:
    return sandbox_factory(seed=11, days=2, payments_per_day=100, fault_slow=1.0, slow_seconds=SLOW_SECONDS)


def _args(sandbox: SandboxHandle, *extra: str) -> list[str]:
    until = sandbox_until(sandbox)
    since = until - timedelta(days=3)  # the sandbox's whole history, not a first run's two years
    return [
        "run",
        "--since",
        since.isoformat(),
        "--until",
        until.isoformat(),
        "--safety-lag",
        f"{int(SAFETY_LAG.total_seconds())}s",
        *extra,
    ]


@pytest.mark.slow
def test_two_syncs_started_together_one_runs_one_reports(
    slow_sandbox: SandboxHandle, database_url: str, engine: Engine
) -> None:
    results = _start_two(cli_env(slow_sandbox, database_url), _args(slow_sandbox))

    codes = sorted(result.returncode for result in results)
    assert codes == [0, 4], [r.stderr[-1500:] for r in results]
    refused = next(r for r in results if r.returncode == 4)
    # (the lines before it are alembic's INFO log of the schema check)
    reason = refused.stderr.strip().splitlines()[-1]
    assert reason.startswith("error: another sync is running: "), refused.stderr
    assert "Traceback" not in refused.stderr
    with engine.connect() as conn:
        runs = conn.execute(select(SyncRun.pid, SyncRun.status)).all()
        leases = conn.execute(select(SyncLease.entity)).all()
    assert [run.status for run in runs] == ["succeeded"]
    # the holder it names is the run that went ahead (named by its process: the refusal may come
    # before that run has recorded its id on the lease)
    assert f" on {socket.gethostname()} (pid {runs[0].pid}) since " in reason
    assert leases == []  # released at the end
    counts = assert_parity(engine, slow_sandbox)
    assert counts["payments"] > 0


@pytest.mark.slow
def test_with_wait_the_second_sync_runs_after_the_first(
    slow_sandbox: SandboxHandle, database_url: str, engine: Engine
) -> None:
    results = _start_two(cli_env(slow_sandbox, database_url), _args(slow_sandbox, "--wait"))

    assert [r.returncode for r in results] == [0, 0], [r.stderr[-1500:] for r in results]
    with engine.connect() as conn:
        runs = conn.execute(select(SyncRun.status).order_by(SyncRun.id)).scalars().all()
    assert runs == ["succeeded", "succeeded"]
    # One of them met the other's lease and waited for it. (Run timestamps written by two processes
    # are not compared: under the test clock each process's clock carries its own start-up offset.)
    waited = [r for r in results if "another sync is running: " in r.stderr and "; waiting" in r.stderr]
    assert len(waited) == 1, [r.stderr[-1500:] for r in results]
    assert_parity(engine, slow_sandbox)
