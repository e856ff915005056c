"""Helpers shared by the sync tests: running the sync against a sandbox and comparing with its truth."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from sqlalchemy import Engine, select

from data.models import Order, Payment, Refund, Settlement, SettlementLine
from data.settings import Settings
from sync.http import HttpPolicy, SdkClient, make_client
from sync.pull import SyncOptions, SyncResult, run_sync
from tests.support.sandbox import SandboxHandle

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SAFETY_LAG = timedelta(minutes=2)

# What "exact parity" compares: (entity, model, key, [(column, api field)]).
PARITY_FIELDS: tuple[tuple[str, Any, str, tuple[tuple[str, str], ...]], ...] = (
    (
        "payments",
        Payment,
        "id",
        (
            ("status", "status"),
            ("amount", "amount"),
            ("currency", "currency"),
            ("fee", "fee"),
            ("tax", "tax"),
            ("amount_refunded", "amount_refunded"),
            ("captured", "captured"),
            ("order_id", "order_id"),
            ("method", "method"),
        ),
    ),
    (
        "orders",
        Order,
        "id",
        (
            ("status", "status"),
            ("amount", "amount"),
            ("amount_paid", "amount_paid"),
            ("attempts", "attempts"),
        ),
    ),
    ("refunds", Refund, "id", (("status", "status"), ("amount", "amount"), ("payment_id", "payment_id"))),
    (
        "settlements",
        Settlement,
        "id",
        (("status", "status"), ("amount", "amount"), ("fees", "fees"), ("tax", "tax"), ("utr", "utr")),
    ),
    (
        "settlement_lines",
        SettlementLine,
        "entity_id",
        (
            ("type", "type"),
            ("amount", "amount"),
            ("fee", "fee"),
            ("tax", "tax"),
            ("debit", "debit"),
            ("credit", "credit"),
            ("settlement_id", "settlement_id"),
        ),
    ),
)


def sandbox_settings(sandbox: SandboxHandle, database_url: str, **overrides: Any) -> Settings:
    return Settings(
        database_url=database_url,
        razorpay_key_id=sandbox.key_id,
        razorpay_key_secret=SecretStr(sandbox.key_secret),
        razorpay_base_url=sandbox.base_url,
        **overrides,
    )


def sandbox_client(sandbox: SandboxHandle, database_url: str, policy: HttpPolicy | None = None) -> SdkClient:
    return make_client(sandbox_settings(sandbox, database_url), policy)


def sandbox_until(sandbox: SandboxHandle) -> datetime:
    """An --until whose windows (ending SAFETY_LAG before it) cover everything the sandbox has created."""
    return datetime.fromtimestamp(int(sandbox.state()["now"]), UTC) + SAFETY_LAG + timedelta(seconds=1)


def sync_once(
    engine: Engine,
    sandbox: SandboxHandle,
    database_url: str,
    *,
    policy: HttpPolicy | None = None,
    **options: Any,
) -> SyncResult:
    options.setdefault("until", sandbox_until(sandbox))
    options.setdefault("safety_lag", SAFETY_LAG)
    return run_sync(engine, sandbox_client(sandbox, database_url, policy), SyncOptions(**options))


def stored(engine: Engine, model: Any, key: str, columns: Sequence[str]) -> dict[str, tuple[Any, ...]]:
    table = model.__table__
    with engine.connect() as conn:
        result = conn.execute(select(table.c[key], *(table.c[c] for c in columns)))
        return {row[0]: tuple(row[1:]) for row in result}


def expected(truth: list[dict[str, Any]], key: str, fields: Sequence[str]) -> dict[str, tuple[Any, ...]]:
    return {item[key]: tuple(item.get(f) for f in fields) for item in truth}


def assert_parity(engine: Engine, sandbox: SandboxHandle) -> dict[str, int]:
    """Every entity in the database equals the sandbox's current truth, field by field. Returns counts."""
    counts: dict[str, int] = {}
    for entity, model, key, pairs in PARITY_FIELDS:
        truth = sandbox.truth(entity)
        want = expected(
            truth, key if entity != "settlement_lines" else "entity_id", [api for _, api in pairs]
        )
        have = stored(engine, model, key, [column for column, _ in pairs])
        missing = set(want) - set(have)
        extra = set(have) - set(want)
        assert not missing and not extra, f"{entity}: {len(missing)} missing, {len(extra)} extra"
        differing = {k: (have[k], want[k]) for k in want if have[k] != want[k]}
        assert not differing, f"{entity}: {len(differing)} differ, e.g. {next(iter(differing.items()))}"
        assert len(truth) == len(want), f"{entity}: the truth repeats an id"
        counts[entity] = len(want)
    return counts


def cli_env(sandbox: SandboxHandle, database_url: str, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "RAZORPAY_BASE_URL": sandbox.base_url,
        "RAZORPAY_KEY_ID": sandbox.key_id,
        "RAZORPAY_KEY_SECRET": sandbox.key_secret,
        **extra,
    }


def run_cli(env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sync", *args],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
