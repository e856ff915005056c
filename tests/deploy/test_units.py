"""Each systemd unit in deploy/ starts a working process: its ExecStart is parsed, the installation
prefix pointed at this checkout's venv, ${VARS} filled from the test's environment, and it is run
for real; the receiver and the dashboard must serve, the scheduler must tick its jobs."""

from __future__ import annotations

import configparser
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from data.models import AuditLog, SyncRun
from data.retention import PURGE_ACTION
from tests.support.receivers import wait_until_healthy
from tests.support.sandbox import SandboxHandle, free_port

PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent
DEPLOY = PROJECT_ROOT / "deploy"
INSTALL_PREFIX = "/opt/payops/.venv/bin/"
VENV_BIN = str(Path(sys.executable).parent) + "/"


def exec_start(unit: str, env: dict[str, str]) -> list[str]:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(DEPLOY / unit)
    assert parser["Service"]["WorkingDirectory"] == "/opt/payops"
    assert parser["Service"]["EnvironmentFile"] == "/etc/payops/payops.env"
    line = parser["Service"]["ExecStart"]
    expanded = re.sub(r"\$\{(\w+)\}", lambda m: env[m.group(1)], line)
    command = shlex.split(expanded)
    assert command[0].startswith(INSTALL_PREFIX)
    return [VENV_BIN + command[0].removeprefix(INSTALL_PREFIX), *command[1:]]


@pytest.fixture
def run_unit(tmp_path: Path) -> Iterator[Callable[[str, dict[str, str]], subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []

    def run(unit: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
        full_env = {**os.environ, **env}
        log = (tmp_path / f"{unit}.log").open("wb")
        process = subprocess.Popen(
            exec_start(unit, full_env), cwd=PROJECT_ROOT, env=full_env, stdout=log, stderr=subprocess.STDOUT
        )
        started.append(process)
        return process

    yield run
    for process in started:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=30)


def test_receiver_unit_serves(
    run_unit: Callable[[str, dict[str, str]], subprocess.Popen[bytes]], database_url: str
) -> None:
    port, metrics_port = free_port(), free_port()
    env = {
        "DATABASE_URL": database_url,
        "RAZORPAY_WEBHOOK_SECRET": "whsec_unit",
        "PAYOPS_RECEIVER_PORT": str(port),
        "PAYOPS_RECEIVER_METRICS_PORT": str(metrics_port),
    }
    process = run_unit("payops-receiver.service", env)
    wait_until_healthy(f"http://127.0.0.1:{port}/healthz", process)
    wait_until_healthy(f"http://127.0.0.1:{metrics_port}/metrics", process)


def test_dashboard_unit_serves(
    run_unit: Callable[[str, dict[str, str]], subprocess.Popen[bytes]], database_url: str
) -> None:
    port = free_port()
    process = run_unit(
        "payops-dashboard.service", {"DATABASE_URL": database_url, "PAYOPS_DASHBOARD_PORT": str(port)}
    )
    wait_until_healthy(f"http://127.0.0.1:{port}/_stcore/health", process, timeout=120)


@pytest.mark.slow
def test_scheduler_unit_ticks_every_job(
    run_unit: Callable[[str, dict[str, str]], subprocess.Popen[bytes]],
    database_url: str,
    engine: Engine,
    sandbox_factory: Callable[..., SandboxHandle],
    tmp_path: Path,
) -> None:
    sandbox = sandbox_factory(seed=3, days=2, payments_per_day=40)
    env = {
        "DATABASE_URL": database_url,
        "RAZORPAY_BASE_URL": sandbox.base_url,
        "RAZORPAY_KEY_ID": sandbox.key_id,
        "RAZORPAY_KEY_SECRET": sandbox.key_secret,
        "PAYOPS_SCHEDULE_SYNC_SECONDS": "2",
        "PAYOPS_SCHEDULE_ALERTS_SECONDS": "2",
        "PAYOPS_SCHEDULE_RECONCILE_SECONDS": "2",
        "PAYOPS_SCHEDULE_PURGE_SECONDS": "2",
        "PAYOPS_PII_RETENTION_DAYS": "180",
    }
    process = run_unit("payops-scheduler.service", env)
    log = tmp_path / "payops-scheduler.service.log"
    deadline = time.monotonic() + 180
    done: dict[str, int] = {}
    while time.monotonic() < deadline and process.poll() is None:
        text = log.read_text(errors="replace")
        done = {
            job: len(re.findall(rf"job {job} done", text))
            for job in ("sync", "alerts", "reconcile", "purge-pii", "purge-rejections")
        }
        if all(count >= 2 for count in done.values()):
            break
        time.sleep(0.5)
    assert all(count >= 2 for count in done.values()), (done, log.read_text(errors="replace")[-3000:])
    assert "failed" not in log.read_text(errors="replace")
    with engine.connect() as conn:
        runs = conn.execute(select(SyncRun.trigger, SyncRun.status)).all()
        purges = conn.execute(select(func.count()).where(AuditLog.action == PURGE_ACTION)).scalar_one()
    # The next tick's sync may be under way while we look.
    assert sum(run == ("schedule", "succeeded") for run in runs) >= 2, runs
    assert all(trigger == "schedule" and status in ("succeeded", "running") for trigger, status in runs), runs
    assert purges >= 2
