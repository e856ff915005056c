"""Sync health for operations: the latest sync runs and the records the sync could not store."""

from __future__ import annotations

from typing import Any

import pandas as pd
from sqlalchemy import Select, select

from analytics.db import MAX_ROWS, Db, as_frame, as_int, reading
from data.models import Quarantine, SyncRun

__all__ = ["QUARANTINE_COLUMNS", "RUN_COLUMNS", "quarantine_query", "quarantined_records", "sync_runs"]

RUN_COLUMNS = ["id", "started_at", "finished_at", "status", "trigger", "upserted", "quarantined", "error"]


def sync_runs(db: Db, *, limit: int = 20) -> pd.DataFrame:
    """The latest sync runs, newest first, with rows upserted and quarantined summed over entities."""
    with reading(db) as conn:
        rows = conn.execute(
            select(
                SyncRun.id,
                SyncRun.started_at,
                SyncRun.finished_at,
                SyncRun.status,
                SyncRun.trigger,
                SyncRun.counts,
                SyncRun.error,
            )
            .order_by(SyncRun.id.desc())
            .limit(min(limit, MAX_ROWS))
        ).all()
    out = []
    for r in rows:
        counts = r.counts or {}
        upserted = sum(as_int(c.get("upserted")) for c in counts.values() if isinstance(c, dict))
        quarantined = sum(as_int(c.get("quarantined")) for c in counts.values() if isinstance(c, dict))
        out.append((r.id, r.started_at, r.finished_at, r.status, r.trigger, upserted, quarantined, r.error))
    return as_frame(out, RUN_COLUMNS)


QUARANTINE_COLUMNS = [
    "id",
    "entity",
    "entity_id",
    "reason",
    "source",
    "first_seen_at",
    "last_seen_at",
    "run_id",
    "raw",
]


def quarantine_query() -> Select[Any]:
    """Every quarantined record, most recently seen first (`QUARANTINE_COLUMNS`)."""
    return select(*(Quarantine.__table__.c[name] for name in QUARANTINE_COLUMNS)).order_by(
        Quarantine.last_seen_at.desc(), Quarantine.id.desc()
    )


def quarantined_records(db: Db, *, limit: int = 200) -> pd.DataFrame:
    """Records that could not be stored, most recently seen first (raw text already scrubbed by sync):
    the first `limit`; `quarantine_query` counts and streams them all."""
    with reading(db) as conn:
        rows = conn.execute(quarantine_query().limit(min(limit, MAX_ROWS))).all()
    return as_frame(rows, QUARANTINE_COLUMNS)
