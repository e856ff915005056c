"""Sync health for operations: the latest sync runs and the records the sync could not store."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pandas as pd
from sqlalchemy import Select, select

from analytics.db import MAX_ROWS, Db, as_frame, as_int, reading
from analytics.listing import CHUNK_ROWS
from data.models import Quarantine, SyncRun

__all__ = [
    "QUARANTINE_COLUMNS",
    "RUN_COLUMNS",
    "quarantine_query",
    "quarantined_records",
    "sync_run_rows",
    "sync_runs",
    "sync_runs_query",
]

RUN_COLUMNS = ["id", "started_at", "finished_at", "status", "trigger", "upserted", "quarantined", "error"]


def sync_runs_query() -> Select[Any]:
    """Every sync run, newest first (its `counts` still per entity: see `sync_run_rows`)."""
    return select(
        SyncRun.id,
        SyncRun.started_at,
        SyncRun.finished_at,
        SyncRun.status,
        SyncRun.trigger,
        SyncRun.counts,
        SyncRun.error,
    ).order_by(SyncRun.id.desc())


def _run_row(run: Any) -> tuple[Any, ...]:
    counts = run.counts or {}
    upserted = sum(as_int(c.get("upserted")) for c in counts.values() if isinstance(c, dict))
    quarantined = sum(as_int(c.get("quarantined")) for c in counts.values() if isinstance(c, dict))
    return (
        run.id,
        run.started_at,
        run.finished_at,
        run.status,
        run.trigger,
        upserted,
        quarantined,
        run.error,
    )


def sync_runs(db: Db, *, limit: int = 20) -> pd.DataFrame:
    """The latest sync runs, newest first, with rows upserted and quarantined summed over entities
    (`count_rows(db, sync_runs_query())` says how many runs there are)."""
    with reading(db) as conn:
        rows = conn.execute(sync_runs_query().limit(min(limit, MAX_ROWS))).all()
    return as_frame([_run_row(r) for r in rows], RUN_COLUMNS)


def sync_run_rows(db: Db) -> Iterator[dict[str, Any]]:
    """Every sync run as a `RUN_COLUMNS` dict, newest first, streamed in chunks (the CSV's rows)."""
    with reading(db) as conn:
        result = conn.execution_options(stream_results=True, yield_per=CHUNK_ROWS).execute(sync_runs_query())
        for part in result.partitions():
            for run in part:
                yield dict(zip(RUN_COLUMNS, _run_row(run), strict=True))


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
