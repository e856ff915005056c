"""The sync against a real sandbox over HTTP, through the real SDK: parity, idempotence, faults, increments."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from data.models import (
    Payment,
    PaymentRollupHourly,
    Quarantine,
    Refund,
    Settlement,
    SettlementLine,
    SyncCheckpoint,
    SyncRun,
)
from sync.http import HttpPolicy
from tests.support.sandbox import SandboxHandle
from tests.support.sync_helpers import (
    PARITY_FIELDS,
    PROJECT_ROOT,
    SAFETY_LAG,
    assert_parity,
    cli_env,
    run_cli,
    sandbox_until,
    sync_once,
)


def snapshot(engine: Engine) -> dict[str, Any]:
    """Every synced row's updated_at (a rewrite would move it) plus the checkpoints."""
    result: dict[str, Any] = {}
    with engine.connect() as conn:
        for entity, model, key, _ in PARITY_FIELDS:
            table = model.__table__
            result[entity] = dict(conn.execute(select(table.c[key], table.c.updated_at)).all())
        result["checkpoints"] = dict(
            conn.execute(select(SyncCheckpoint.entity, SyncCheckpoint.synced_until)).all()
        )
    return result


def test_full_sync_has_exact_parity_and_a_second_run_changes_nothing(
    sandbox: SandboxHandle, database_url: str, engine: Engine
) -> None:
    first = sync_once(engine, sandbox, database_url)

    counts = assert_parity(engine, sandbox)
    assert counts["payments"] == sandbox.state()["counts"]["payments"] > 2500
    assert counts["settlement_lines"] > 0 and counts["refunds"] > 0 and counts["settlements"] > 0
    assert first.status == "succeeded" and first.quarantined == 0
    assert first.counts["payments"].upserted == counts["payments"]
    with engine.connect() as conn:
        # the payment rollups were refreshed in the sync's transactions
        rolled_up = conn.execute(
            # every payment is an attempt or, still unattempted, counted as created
            select(func.sum(PaymentRollupHourly.attempts + PaymentRollupHourly.created_count)).where(
                PaymentRollupHourly.dimension == "all"
            )
        ).scalar()
        countries = dict(
            conn.execute(select(Payment.country_source, func.count()).group_by(Payment.country_source)).all()
        )
        full_vpas = conn.execute(
            select(func.count()).where(
                Payment.raw["vpa"].as_string().like("%@%"), ~Payment.raw["vpa"].as_string().like("***@%")
            )
        ).scalar()
    assert rolled_up == counts["payments"]
    assert countries.get("unknown", 0) < counts["payments"] and sum(countries.values()) == counts["payments"]
    assert full_vpas == 0
    before = snapshot(engine)

    second = sync_once(engine, sandbox, database_url)

    assert second.status == "succeeded"
    assert snapshot(engine) == before
    with engine.connect() as conn:
        runs = conn.execute(
            select(SyncRun.status, SyncRun.counts, SyncRun.finished_at).order_by(SyncRun.id)
        ).all()
    assert [run.status for run in runs] == ["succeeded", "succeeded"]
    assert all(run.finished_at is not None for run in runs)
    assert runs[0].counts["payments"]["upserted"] == counts["payments"]


@pytest.mark.slow
def test_sync_survives_faults_with_exact_parity(
    sandbox_factory: Callable[..., SandboxHandle], database_url: str, engine: Engine
) -> None:
    faulty = sandbox_factory(
        seed=11,
        days=4,
        payments_per_day=250,
        fault_5xx=0.1,
        fault_429=0.05,
        fault_slow=0.03,
        slow_seconds=3,
        fault_nonjson=0.05,
        fault_drop=0.02,
    )
    # A short timeout so slow responses time out and get retried instead of stalling the test.
    policy = HttpPolicy(
        timeout_seconds=1.0,
        retries=8,
        backoff_factor=0.05,
        backoff_max=0.5,
        retry_after_max=1,
        call_attempts=8,
    )

    result = sync_once(engine, faulty, database_url, policy=policy, parallel_pages=2)

    assert result.status == "succeeded"
    counts = assert_parity(engine, faulty)
    state = faulty.state()
    assert counts["payments"] == state["counts"]["payments"] > 900
    # every kind of fault really happened during the sync
    assert {
        kind: state["fault_counts"].get(kind, 0) > 0 for kind in ("5xx", "429", "slow", "nonjson", "drop")
    } == {
        "5xx": True,
        "429": True,
        "slow": True,
        "nonjson": True,
        "drop": True,
    }
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Quarantine)).scalar() == 0


@pytest.mark.slow
def test_incremental_run_picks_up_new_payments_and_status_changes(
    sandbox_factory: Callable[..., SandboxHandle], database_url: str, engine: Engine
) -> None:
    # A pinned clock keeps the data (and so what advance() changes) the same on every run.
    moving = sandbox_factory(seed=5, days=5, payments_per_day=200, now=1_795_000_020)
    sync_once(engine, moving, database_url)
    assert_parity(engine, moving)
    with engine.connect() as conn:
        statuses_before = dict(conn.execute(select(Payment.id, Payment.status)).all())
        states_before = {
            row[0]: tuple(row[1:])
            for row in conn.execute(select(Payment.id, Payment.status, Payment.amount_refunded, Payment.fee))
        }
        refunds_before = set(conn.execute(select(Refund.id)).scalars())

    change = moving.advance(minutes=6 * 60)

    new_payments = set(change["new"]["payments"])
    changed_payments = set(change["changed"].get("payments", []))
    assert new_payments and changed_payments
    assert not new_payments & set(statuses_before)
    result = sync_once(engine, moving, database_url, lookback=timedelta(days=3))
    assert result.status == "succeeded"
    assert_parity(engine, moving)
    with engine.connect() as conn:
        statuses_after = dict(conn.execute(select(Payment.id, Payment.status)).all())
        states_after = {
            row[0]: tuple(row[1:])
            for row in conn.execute(select(Payment.id, Payment.status, Payment.amount_refunded, Payment.fee))
        }
        refunds_after = set(conn.execute(select(Refund.id)).scalars())
    assert new_payments <= set(statuses_after)
    truth = {p["id"]: p["status"] for p in moving.truth("payments")}
    assert {pid: statuses_after[pid] for pid in changed_payments} == {
        pid: truth[pid] for pid in changed_payments
    }
    # "changed" means the API object changed (a capture, a refund, a late authorisation): every one
    # of them now differs from what the first run stored, and matches the sandbox.
    assert all(states_before[pid] != states_after[pid] for pid in changed_payments)
    assert set(change["new"].get("refunds", [])) <= refunds_after - refunds_before
    # only the look-back and the new time were re-read, not the whole history
    assert result.counts["payments"].fetched < len(statuses_after)


def test_wrong_secret_ends_the_run_with_one_clear_line_and_never_echoes_it(
    sandbox: SandboxHandle, database_url: str, engine: Engine
) -> None:
    wrong = "not-the-secret-9f8e7d"
    env = cli_env(sandbox, database_url, RAZORPAY_KEY_SECRET=wrong)
    result = run_cli(env, "run", "--until", str(int(sandbox_until(sandbox).timestamp())))
    assert result.returncode == 3
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("error: Razorpay rejected the key id or key secret (HTTP 401)")
    assert wrong not in result.stderr and wrong not in result.stdout
    with engine.connect() as conn:
        run = conn.execute(select(SyncRun.status, SyncRun.error)).one()
    assert run.status == "failed" and "AuthenticationError" in run.error and wrong not in run.error


@pytest.mark.slow
def test_cli_run_and_status(sandbox: SandboxHandle, database_url: str, engine: Engine) -> None:
    env = cli_env(sandbox, database_url)
    until = sandbox_until(sandbox)
    result = run_cli(
        env,
        "run",
        "--entities",
        "payments,orders",
        "--until",
        until.isoformat(),
        "--safety-lag",
        f"{int(SAFETY_LAG.total_seconds())}s",
    )
    assert result.returncode == 0, result.stderr
    assert "succeeded" in result.stdout
    # The run ends with an alert evaluation as of its --until (a back-test: nothing is sent).
    assert f"alerts at {until.isoformat()}: " in result.stdout and "0 notification(s) sent" in result.stdout
    status = run_cli(env, "status", "--json")
    assert status.returncode == 0, status.stderr
    rows = {row["entity"]: row for row in json.loads(status.stdout)}
    truth_payments = len(sandbox.truth("payments"))
    assert rows["payments"]["rows"] == truth_payments
    assert rows["orders"]["rows"] == len(sandbox.truth("orders"))
    assert rows["refunds"]["rows"] == 0 and rows["refunds"]["checkpoint"] is None
    assert rows["payments"]["last_run"]["status"] == "succeeded"
    assert rows["payments"]["last_run"]["upserted"] == truth_payments
    checkpoint = datetime.fromisoformat(rows["payments"]["checkpoint"])
    assert checkpoint == until - SAFETY_LAG
    table = run_cli(env, "status")
    assert table.returncode == 0 and "payments" in table.stdout
    bad = run_cli(env, "run", "--lookback", "three days")
    assert bad.returncode == 2 and "not a duration" in bad.stderr


def test_status_before_any_sync_and_counts_per_entity(database_url: str, engine: Engine) -> None:
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(SettlementLine)).scalar() == 0
        assert conn.execute(select(func.count()).select_from(Settlement)).scalar() == 0
    from sync.cli import status_rows

    rows = status_rows(engine, now=datetime.now(UTC))
    assert [row["entity"] for row in rows] == [
        "payments",
        "orders",
        "refunds",
        "settlements",
        "settlement_lines",
        "disputes",
        "downtimes",
    ]
    assert all(row["checkpoint"] is None and row["rows"] == 0 and row["last_run"] is None for row in rows)


@pytest.mark.slow
def test_watch_repeats_the_run_until_stopped(
    sandbox: SandboxHandle, database_url: str, engine: Engine
) -> None:
    env = cli_env(sandbox, database_url)
    until = sandbox_until(sandbox).isoformat()
    process = subprocess.Popen(
        [sys.executable, "-m", "sync", "run", "--entities", "settlements", "--until", until, "--watch", "1s"],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        finished: Sequence[Any] = []
        while time.monotonic() < deadline and len(finished) < 3:
            time.sleep(0.5)
            with engine.connect() as conn:
                finished = conn.execute(
                    select(SyncRun.trigger, SyncRun.status).where(SyncRun.finished_at.is_not(None))
                ).all()
        assert process.poll() is None, "--watch exited instead of repeating"
    finally:
        process.terminate()
        process.wait(timeout=30)
    assert len(finished) >= 3
    assert {(run.trigger, run.status) for run in finished} == {("watch", "succeeded")}
    assert len(stored_ids(engine)) == len(sandbox.truth("settlements"))


def stored_ids(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(select(Settlement.id)).scalars())
