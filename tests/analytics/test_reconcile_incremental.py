"""Incremental reconcile passes leave the mismatches exactly as full passes do: two databases get the same
random writes round after round; one reconciles incrementally, the other fully, and their mismatches
and histories are compared after every round."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from analytics import reconcile as reconcile_module
from analytics.reconcile import ReconcileResult, reconcile
from data.db import make_engine
from data.models import Mismatch, MismatchEvent, ReconcileRun
from tests.support.clock import TEST_NOW
from tests.support.databases import MigratedDatabase, drop_database
from tests.support.factories import (
    dispute,
    order,
    payment,
    refund,
    settlement,
    settlement_line,
    webhook_event,
    write,
)

# Evidence that states the pass's own instant (a cutoff, an age) rather than a fact of the data: a pass
# that did not look at a mismatch leaves the previous pass's value there.
RUN_TIME_EVIDENCE = ("due_before", "age_hours")
STATUSES = ("created", "authorized", "captured", "captured", "captured", "refunded", "failed")


@pytest.fixture
def twin_engines(
    backend: str, tmp_path: Path, migrated_database: MigratedDatabase
) -> Iterator[tuple[Engine, Engine]]:
    directories = [tmp_path / name for name in ("incremental", "full")]
    for directory in directories:
        directory.mkdir()
    urls = [migrated_database(backend, directory) for directory in directories]
    engines = [make_engine(url) for url in urls]
    yield engines[0], engines[1]
    for engine, url in zip(engines, urls, strict=True):
        engine.dispose()
        drop_database(backend, url)


class World:
    """Random payments, orders, refunds, disputes, settlements, lines and webhook events, and random
    changes to them; every write goes to both databases."""

    def __init__(self, rng: random.Random, engines: tuple[Engine, Engine], start: datetime) -> None:
        self.rng = rng
        self.engines = engines
        self.start = start
        self.payments: dict[str, dict[str, Any]] = {}
        self.settlements = [f"setl_{n}" for n in range(4)]
        self.refunds: dict[str, dict[str, Any]] = {}
        self.disputes: dict[str, dict[str, Any]] = {}
        self.line_settlement: dict[str, str | None] = {}
        self.events = 0

    def write(self, table: str, *rows: dict[str, Any]) -> None:
        for engine in self.engines:
            with engine.begin() as conn:
                write(conn, table, *rows)

    def _created(self) -> datetime:
        return self.start - timedelta(minutes=self.rng.randrange(0, 12 * 24 * 60))

    def new_payment(self) -> None:
        rng = self.rng
        n = len(self.payments)
        payment_id, order_id = f"pay_{n:04d}", f"order_{n // 2:04d}"  # two attempts per order
        status = rng.choice(STATUSES)
        amount = rng.choice([10_000, 25_000, 99_900])
        created = self._created()
        fee = None if status not in ("captured", "refunded") else rng.choice([200, 236, 5_000])
        row = payment(
            payment_id,
            order_id=order_id,
            status=status,
            amount=amount,
            fee=fee,
            tax=0 if fee is not None else None,
            created_at=created,
            state_at=created,
        )
        self.payments[payment_id] = row
        self.write("payments", row)
        self.write(
            "orders",
            order(
                order_id,
                amount=amount,
                amount_paid=amount if rng.random() < 0.6 else 0,
                status=rng.choice(["paid", "paid", "attempted", "created"]),
                created_at=created,
                state_at=created,
            ),
        )
        if fee is not None and rng.random() < 0.7:
            self.line(payment_id)
        if rng.random() < 0.5:
            self.event(payment_id)

    def _settlement_of(self, entity_id: str) -> str | None:
        """A line is unsettled (no settlement yet) or settled into one settlement for good: Razorpay's
        recon lines do not move between settlements."""
        current = self.line_settlement.get(entity_id)
        if current is None:
            current = None if self.rng.random() < 0.25 else self.rng.choice(self.settlements)
            self.line_settlement[entity_id] = current
        return current

    def line(self, payment_id: str) -> None:
        row = self.payments[payment_id]
        fee = row["fee"] or 0
        amount = row["amount"] - (self.rng.choice([0, 0, 0, 500]))
        self.write(
            "settlement_lines",
            settlement_line(
                payment_id,
                amount=amount,
                fee=fee,
                credit=amount - fee,
                settlement_id=self._settlement_of(payment_id),
                created_at=row["created_at"],
            ),
        )

    def event(self, payment_id: str) -> None:
        row = self.payments[payment_id]
        self.events += 1
        kind = self.rng.choice(["payment.captured", "payment.failed", "payment.authorized"])
        # The receiver stamps its own clock; both databases get the same instant.
        received = datetime.now(UTC)
        self.write(
            "webhook_events",
            webhook_event(
                f"evt_{self.events:05d}",
                kind,
                payment_id=payment_id,
                entity_status=kind.split(".")[1],
                created_at=row["created_at"] + timedelta(seconds=30),
                received_at=received,
                last_received_at=received,
            ),
        )

    def refund(self, payment_id: str) -> None:
        row = self.payments[payment_id]
        refund_id = "rfnd_" + payment_id[4:]
        created = row["created_at"] + timedelta(hours=self.rng.randrange(1, 72))
        self.refunds[refund_id] = refund(
            refund_id, payment_id, amount=row["amount"], status="processed", created_at=created
        )
        self.write("refunds", self.refunds[refund_id])
        if self.rng.random() < 0.5:
            self.write(
                "settlement_lines",
                settlement_line(
                    refund_id,
                    type="refund",
                    payment_id=payment_id,
                    amount=row["amount"] - self.rng.choice([0, 100]),
                    credit=0,
                    debit=row["amount"],
                    settlement_id=self._settlement_of(refund_id),
                    created_at=created,
                ),
            )

    def dispute(self, payment_id: str) -> None:
        dispute_id = "disp_" + payment_id[4:]
        amount = self.payments[payment_id]["amount"]
        self.disputes[dispute_id] = dispute(
            dispute_id, payment_id, amount=amount, amount_deducted=amount, status="lost"
        )
        self.write("disputes", self.disputes[dispute_id])
        self.write(
            "settlement_lines",
            settlement_line(
                "adj_" + payment_id[4:],
                type="adjustment",
                payment_id=payment_id,
                dispute_id=dispute_id,
                amount=amount,
                credit=0,
                debit=amount - self.rng.choice([0, 0, 300]),
                settlement_id=self._settlement_of("adj_" + payment_id[4:]),
            ),
        )

    def settle(self) -> None:
        setl = self.rng.choice(self.settlements)
        self.write("settlements", settlement(setl, amount=self.rng.choice([0, 9_800, 24_764, 123])))

    def change(self) -> None:
        """One random write of the kinds a sync and the receiver make."""
        rng = self.rng
        existing = sorted(self.payments)
        action = rng.choice(
            ["new", "new", "status", "line", "event", "refund", "dispute", "settle", "fee", "amend"]
        )
        if action == "new" or not existing:
            self.new_payment()
            return
        payment_id = rng.choice(existing)
        row = self.payments[payment_id]
        if action == "status":
            row["status"] = rng.choice(STATUSES)
            row["captured"] = row["status"] in ("captured", "refunded")
            self.write("payments", row)
        elif action == "fee" and row["fee"] is not None:
            row["fee"] = rng.choice([200, 5_000, 9_000])
            self.write("payments", row)
        elif action == "line" and row["fee"] is not None:
            self.line(payment_id)
        elif action == "event":
            self.event(payment_id)
        elif action == "refund":
            self.refund(payment_id)
        elif action == "dispute":
            self.dispute(payment_id)
        elif action == "amend" and (self.refunds or self.disputes):
            # A refund's or a dispute's amount corrected after the fact: only its own row changes.
            table, rows, field = rng.choice(
                [("refunds", self.refunds, "amount"), ("disputes", self.disputes, "amount_deducted")]
            )
            if rows:
                amended = rows[rng.choice(sorted(rows))]
                amended[field] = amended[field] - rng.choice([0, 100, 300])
                self.write(table, amended)
        else:
            self.settle()


def _snapshot(engine: Engine) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    with engine.connect() as conn:
        mismatches = [
            (
                row.key,
                row.status,
                row.auto_resolved,
                row.payment_id,
                row.order_id,
                row.refund_id,
                row.settlement_id,
                row.currency,
                row.expected_amount,
                row.actual_amount,
                row.first_seen_at,
                row.resolved_at,
                row.evidence_at,
                row.due_at,
                row.explanation,
                repr(sorted((k, v) for k, v in row.evidence.items() if k not in RUN_TIME_EVIDENCE)),
            )
            for row in conn.execute(select(Mismatch).order_by(Mismatch.key))
        ]
        history = [
            tuple(row)
            for row in conn.execute(
                select(Mismatch.key, MismatchEvent.at, MismatchEvent.action, MismatchEvent.to_status)
                .join(Mismatch, Mismatch.id == MismatchEvent.mismatch_id)
                .order_by(Mismatch.key, MismatchEvent.at, MismatchEvent.action)
            )
        ]
    return mismatches, history


def _differences(got: list[tuple[Any, ...]], want: list[tuple[Any, ...]]) -> str:
    return (
        f"incremental only {sorted(set(got) - set(want))[:3]}, full only {sorted(set(want) - set(got))[:3]}"
    )


@pytest.mark.parametrize("seed", [3, 17, 2026])
def test_incremental_passes_match_full_passes_after_random_changes(
    twin_engines: tuple[Engine, Engine], seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The writes here are sequential and on one clock: no overlap is needed, and with one every pass
    # would re-read the whole (seconds-old) data set and prove nothing.
    monkeypatch.setattr(reconcile_module, "CHANGE_OVERLAP", timedelta(0))
    incremental_db, full_db = twin_engines
    rng = random.Random(seed)
    world = World(rng, twin_engines, TEST_NOW)
    for _ in range(40):
        world.new_payment()
    now = TEST_NOW
    reconcile(incremental_db, now=now, mode="incremental")  # nothing to build on yet: runs full
    reconcile(full_db, now=now)

    scoped_passes = 0
    for round_number in range(6):
        for _ in range(rng.randrange(1, 12)):
            world.change()
        # Time moves too (across IST days and T+N deadlines), once backwards (a re-run with --now).
        now += timedelta(hours=-20 if round_number == 4 else rng.randrange(1, 40))
        incremental: ReconcileResult = reconcile(incremental_db, now=now, mode="incremental")
        full = reconcile(full_db, now=now)
        assert incremental.mode == "incremental" and full.mode == "full"
        assert incremental.still_open == full.still_open, f"round {round_number}"
        (got, got_history), (want, want_history) = _snapshot(incremental_db), _snapshot(full_db)
        assert got == want, f"round {round_number}: {_differences(got, want)}"
        assert got_history == want_history, f"round {round_number}: {_differences(got_history, want_history)}"
        scoped_passes += incremental.scope["payment"] < len(world.payments)
    assert scoped_passes >= 3  # the incremental passes did look at less than everything


def test_modes_fall_back_to_full_when_there_is_nothing_to_build_on(engine: Engine) -> None:
    with engine.begin() as conn:
        write(conn, "payments", payment("pay_1", created_at=TEST_NOW - timedelta(days=10)))
    first = reconcile(engine, now=TEST_NOW, mode="incremental")
    assert (first.mode, first.full_because) == ("full", "no earlier pass to build on")
    again = reconcile(engine, now=TEST_NOW, mode="incremental")
    assert (again.mode, again.scope["payment"]) == ("incremental", 1)  # written < 10 minutes ago
    other = reconcile(engine, now=TEST_NOW, mode="incremental", settlement_days=5)
    assert (other.mode, other.full_because) == (
        "full",
        "the rules or thresholds differ from the previous pass's",
    )
    assert reconcile(engine, now=TEST_NOW, mode="auto", settlement_days=5).mode == "incremental"
    with engine.connect() as conn:
        modes = list(conn.execute(select(ReconcileRun.mode).order_by(ReconcileRun.id)).scalars())
    assert modes == ["full", "incremental", "full", "incremental"]
    with pytest.raises(ValueError, match="unknown mode"):
        reconcile(engine, now=TEST_NOW, mode="sometimes")  # type: ignore[arg-type]


def test_auto_runs_the_scheduled_full_pass(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    reconcile(engine, now=TEST_NOW)
    assert reconcile(engine, now=TEST_NOW, mode="auto").mode == "incremental"
    monkeypatch.setenv("PAYOPS_RECONCILE_FULL_EVERY_HOURS", "0")
    from data.settings import get_settings

    get_settings.cache_clear()
    try:
        scheduled = reconcile(engine, now=TEST_NOW, mode="auto")
    finally:
        monkeypatch.delenv("PAYOPS_RECONCILE_FULL_EVERY_HOURS")
        get_settings.cache_clear()
    assert (scheduled.mode, scheduled.full_because) == ("full", "the scheduled full pass is due")
