"""SIGKILL the sync at random moments during a ≥ 50,000-payment sync, then run it to completion: exact parity."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable

import pytest
from sqlalchemy import Engine, func, select

from data.models import Payment, Quarantine, SyncCheckpoint, SyncRun
from tests.support.sandbox import SandboxHandle
from tests.support.sync_helpers import (
    PROJECT_ROOT,
    SAFETY_LAG,
    assert_parity,
    cli_env,
    run_cli,
    sandbox_until,
)

KILLS = 10


def _wait_for_run_row(
    engine: Engine, pid: int, process: subprocess.Popen[bytes], timeout: float = 60
) -> bool:
    """True once the child has recorded its run (it is really syncing); False if it ended first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        with engine.connect() as conn:
            if conn.execute(select(SyncRun.id).where(SyncRun.pid == pid)).first() is not None:
                return True
        time.sleep(0.05)
    raise AssertionError("the sync never started")


@pytest.mark.slow(seconds=150)
def test_sigkill_at_random_moments_then_resume_gives_exact_parity(
    sandbox_factory: Callable[..., SandboxHandle], database_url: str, engine: Engine
) -> None:
    big = sandbox_factory(seed=3, days=10, payments_per_day=5200)
    assert big.state()["counts"]["payments"] >= 50_000
    until = sandbox_until(big)
    args = [
        "run",
        "--until",
        until.isoformat(),
        "--lookback",
        "1h",
        "--safety-lag",
        f"{int(SAFETY_LAG.total_seconds())}s",
    ]
    env = cli_env(big, database_url)
    seed = int(os.environ.get("PAYOPS_KILL_SEED", time.time_ns() % 1_000_000))
    rng = random.Random(seed)
    kills_mid_history = 0
    kills = 0
    while kills < KILLS:
        process = subprocess.Popen(
            [sys.executable, "-m", "sync", *args],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        if not _wait_for_run_row(engine, process.pid, process):
            pytest.fail(f"the sync finished before kill {kills + 1} (seed {seed}): the data set is too small")
        time.sleep(rng.uniform(0.0, 1.5))
        assert process.poll() is None, f"the sync finished before kill {kills + 1} (seed {seed})"
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        kills += 1
        with engine.connect() as conn:
            checkpoints = dict(conn.execute(select(SyncCheckpoint.entity, SyncCheckpoint.synced_until)).all())
        if checkpoints.get("settlement_lines") is None:
            kills_mid_history += 1

    finished = run_cli(env, *args, timeout=600)

    assert finished.returncode == 0, finished.stderr[-2000:]
    assert kills_mid_history == KILLS, (
        f"only {kills_mid_history} kills before the first full pass (seed {seed})"
    )
    counts = assert_parity(engine, big)
    assert counts["payments"] >= 50_000
    with engine.connect() as conn:
        assert conn.execute(select(func.count(Payment.id.distinct()))).scalar() == counts["payments"]
        assert conn.execute(select(func.count()).select_from(Quarantine)).scalar() == 0
        statuses = conn.execute(select(SyncRun.status, SyncRun.error).order_by(SyncRun.id)).all()
    # every killed run was closed as abandoned by the run after it; the last one succeeded
    assert [s.status for s in statuses] == ["failed"] * KILLS + ["succeeded"]
    assert all("abandoned" in (s.error or "") for s in statuses[:KILLS])
