"""The sync's own bookkeeping in the database: runs, checkpoints, and the status report built on them."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Engine, Table, func, insert, select, update

from data.models import (
    Base,
    Order,
    Payment,
    Quarantine,
    Refund,
    SyncCheckpoint,
    SyncLease,
    SyncRun,
    WebhookEvent,
)
from data.sync_lease import Leases
from data.upsert import upsert

__all__ = [
    "advance_checkpoint",
    "begin_run",
    "changed_by_webhooks",
    "finish_run",
    "oldest_payment_created_at",
    "read_checkpoint",
    "record_run_counts",
    "status_report",
]

_RECENT_RUNS = 200


def begin_run(engine: Engine, trigger: str, leases: Leases) -> int:
    """Record a new run as running and name it on its leases (closing runs that lost theirs first);
    returns its id. One transaction, so no other run ever sees a running run without its leases."""
    with engine.begin() as conn:
        _mark_abandoned_runs(conn)
        result = conn.execute(
            insert(SyncRun).values(
                started_at=datetime.now(UTC),
                status="running",
                trigger=trigger,
                counts={},
                pid=os.getpid(),
                host=socket.gethostname()[:255],
            )
        )
        key = result.inserted_primary_key
        assert key is not None
        run_id = int(key[0])
        leases.stamp_run(conn, run_id)
        return run_id


def _mark_abandoned_runs(conn: Connection) -> None:
    # A run killed mid-way (SIGKILL, power loss, a host gone) stays "running" for ever; once no lease
    # names it (another run took its leases over, or it ended without finishing), close it.
    holders = select(SyncLease.run_id).where(SyncLease.run_id.is_not(None))
    conn.execute(
        update(SyncRun)
        .where(SyncRun.status == "running", SyncRun.id.not_in(holders))
        .values(status="failed", error="abandoned: the run ended or lost its lease before finishing")
    )


def finish_run(
    engine: Engine, run_id: int, *, status: str, counts: Mapping[str, Any], error: str | None
) -> None:
    with engine.begin() as conn:
        conn.execute(
            update(SyncRun)
            .where(SyncRun.id == run_id)
            .values(finished_at=datetime.now(UTC), status=status, counts=dict(counts), error=error)
        )


def record_run_counts(conn: Connection, run_id: int, counts: Mapping[str, Any]) -> None:
    """The run's counts so far, written in the caller's (window) transaction."""
    conn.execute(update(SyncRun).where(SyncRun.id == run_id).values(counts=dict(counts)))


def read_checkpoint(conn: Connection, entity: str) -> datetime | None:
    value: datetime | None = conn.execute(
        select(SyncCheckpoint.synced_until).where(SyncCheckpoint.entity == entity)
    ).scalar()
    return value


def _forward(table: Table, excluded: Any) -> ColumnElement[bool]:
    forward: ColumnElement[bool] = table.c.synced_until < excluded.synced_until
    return forward


def advance_checkpoint(conn: Connection, entity: str, synced_until: datetime, run_id: int) -> None:
    """Move the entity's checkpoint to `synced_until`, never backwards (a concurrent run may be ahead)."""
    upsert(
        conn,
        SyncCheckpoint,
        [{"entity": entity, "synced_until": synced_until, "run_id": run_id}],
        only_if=_forward,
    )


def oldest_payment_created_at(conn: Connection) -> datetime | None:
    oldest: datetime | None = conn.execute(select(func.min(Payment.created_at))).scalar()
    return oldest


# The entities a webhook names by id, and the column of webhook_events that names each.
_NAMED_BY_WEBHOOKS: tuple[tuple[str, type[Base], Any], ...] = (
    ("payments", Payment, WebhookEvent.payment_id),
    ("orders", Order, WebhookEvent.order_id),
    ("refunds", Refund, WebhookEvent.refund_id),
)


def changed_by_webhooks(
    conn: Connection, *, since: datetime, until: datetime, created_before: datetime
) -> dict[str, list[str]]:
    """Per entity, the ids that webhooks received in (since, until] named, leaving out records stored
    as created at or after `created_before` (a re-read of the recent window sees those anyway)."""
    named: dict[str, list[str]] = {}
    for entity, model, column in _NAMED_BY_WEBHOOKS:
        table = model.__table__
        query = (
            select(column)
            .distinct()
            .select_from(WebhookEvent.__table__.outerjoin(table, table.c.id == column))
            .where(
                WebhookEvent.received_at > since,
                WebhookEvent.received_at <= until,
                column.is_not(None),
                table.c.created_at.is_(None) | (table.c.created_at < created_before),
            )
            .order_by(column)
        )
        named[entity] = [str(value) for value in conn.execute(query).scalars()]
    return named


def status_report(
    engine: Engine, models: Mapping[str, type[Base]], now: datetime | None = None
) -> list[dict[str, Any]]:
    """Per entity (name → its table): checkpoint, lag, row count, quarantined records and the last run
    that touched it — what `python -m sync status` prints and the Sync status page shows."""
    now = now or datetime.now(UTC)
    rows: list[dict[str, Any]] = []
    with engine.connect() as conn:
        checkpoints = dict(conn.execute(select(SyncCheckpoint.entity, SyncCheckpoint.synced_until)).all())
        quarantined = dict(
            conn.execute(select(Quarantine.entity, func.count()).group_by(Quarantine.entity)).all()
        )
        recent_runs = conn.execute(
            select(
                SyncRun.id,
                SyncRun.status,
                SyncRun.started_at,
                SyncRun.finished_at,
                SyncRun.counts,
                SyncRun.error,
            )
            .order_by(SyncRun.id.desc())
            .limit(_RECENT_RUNS)
        ).all()
        for name, model in models.items():
            count = conn.execute(select(func.count()).select_from(model)).scalar_one()
            checkpoint: datetime | None = checkpoints.get(name)
            last = next((r for r in recent_runs if name in (r.counts or {})), None)
            rows.append(
                {
                    "entity": name,
                    "checkpoint": checkpoint.isoformat() if checkpoint else None,
                    "lag_seconds": int((now - checkpoint).total_seconds()) if checkpoint else None,
                    "rows": int(count),
                    "quarantined": int(quarantined.get(name, 0)),
                    "last_run": None
                    if last is None
                    else {
                        "id": int(last.id),
                        "status": last.status,
                        "started_at": last.started_at.isoformat(),
                        "finished_at": last.finished_at.isoformat() if last.finished_at else None,
                        "upserted": (last.counts or {}).get(name, {}).get("upserted"),
                        "error": last.error,
                    },
                }
            )
    return rows
