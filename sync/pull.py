"""The one paging / window / checkpoint loop that pulls every declared entity (see `sync.entities`).

Razorpay has no "updated since" filter and pages with skip/count, so the loop reads closed `created_at`
windows that end a safety lag before now (membership of a closed window cannot change, so skip cannot
drift), pages each window until a short page, and commits the window's rows together with the entity's
checkpoint in one transaction. Every run re-reads a trailing look-back to pick up status changes.
A background thread fetches the next window while the current one is written.
"""

from __future__ import annotations

import importlib
import logging
import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import partial
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import orjson
from sqlalchemy import ColumnElement, Connection, Engine, Table, func

from data.db import make_engine
from data.sync_state import (
    advance_checkpoint,
    begin_run,
    finish_run,
    oldest_payment_created_at,
    read_checkpoint,
    record_run_counts,
)
from sync.entities import ENTITY_NAMES, EntitySpec, NormaliseContext, entity_spec
from sync.http import SdkClient
from sync.records import write_records

__all__ = [
    "REPORT_TIMEZONE",
    "EntityCounts",
    "LogProgress",
    "Progress",
    "SyncOptions",
    "SyncResult",
    "begin_run",
    "finish_run",
    "make_sync_engine",
    "read_checkpoint",
    "run_sync",
    "write_rows",
]

log = logging.getLogger(__name__)

# Razorpay's settlement days (and the recon report's year/month/day) are Indian calendar days.
REPORT_TIMEZONE = ZoneInfo("Asia/Kolkata")
MIN_WINDOW = timedelta(minutes=1)
MAX_WINDOW = timedelta(days=30)


@dataclass(frozen=True)
class SyncOptions:
    entities: Sequence[str] = ENTITY_NAMES
    # Re-read from this instant (instead of checkpoint − look-back).
    since: datetime | None = None
    # "Now" for the window ends; the sandbox has its own clock, tests pass it here.
    until: datetime | None = None
    # Overrides every entity's own look-back.
    lookback: timedelta | None = None
    # Windows end this long before `until`, so nothing can still be created inside them.
    safety_lag: timedelta = timedelta(minutes=2)
    # How far back the first run of an entity reaches when no --since is given.
    first_run_history: timedelta = timedelta(days=730)
    country_notes_key: str = "country"
    trigger: str = "cli"
    # Pages of one window fetched concurrently (the extra ones past the end come back empty).
    parallel_pages: int = 3
    # Windows fetched ahead of the one being written.
    prefetch_windows: int = 1


@dataclass
class EntityCounts:
    fetched: int = 0
    upserted: int = 0
    quarantined: int = 0
    windows: int = 0
    requests: int = 0
    synced_until: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "fetched": self.fetched,
            "upserted": self.upserted,
            "quarantined": self.quarantined,
            "windows": self.windows,
            "requests": self.requests,
            "synced_until": self.synced_until,
        }


@dataclass
class SyncResult:
    run_id: int
    status: str
    counts: dict[str, EntityCounts] = field(default_factory=dict)
    error: str | None = None

    @property
    def quarantined(self) -> int:
        return sum(c.quarantined for c in self.counts.values())


class Progress(Protocol):
    """What the loop reports; the CLI renders it as a bar on a terminal and log lines otherwise."""

    def start(self, entity: str, begin: datetime, end: datetime) -> None: ...

    def window_done(self, entity: str, window_end: datetime, counts: EntityCounts) -> None: ...

    def finish(self, entity: str, counts: EntityCounts) -> None: ...


class LogProgress:
    """Plain log lines: one per entity start/finish and one every `every` windows."""

    def __init__(self, every: int = 25) -> None:
        self.every = every

    def start(self, entity: str, begin: datetime, end: datetime) -> None:
        log.info("%s: syncing created_at %s → %s", entity, begin.isoformat(), end.isoformat())

    def window_done(self, entity: str, window_end: datetime, counts: EntityCounts) -> None:
        if counts.windows % self.every == 0:
            log.info("%s: up to %s, %d rows", entity, window_end.isoformat(), counts.upserted)

    def finish(self, entity: str, counts: EntityCounts) -> None:
        log.info(
            "%s: done — %d fetched, %d upserted, %d quarantined, %d windows",
            entity,
            counts.fetched,
            counts.upserted,
            counts.quarantined,
            counts.windows,
        )


@dataclass(frozen=True)
class _Window:
    begin: datetime
    end: datetime
    items: list[Mapping[str, Any]]
    # Whether the checkpoint may move to `end` (false for a report day that is not over yet).
    closed: bool
    requests: int


# --- writing ------------------------------------------------------------------------------------------


def _changed(table: Table, excluded: Any) -> ColumnElement[bool]:
    # Rewrite a row only when the API says something new, and never with an older state than the
    # one stored (a webhook may have landed a newer state between our fetch and this commit).
    # JSONB compares by value on PostgreSQL.
    condition: ColumnElement[bool] = table.c.raw.is_distinct_from(excluded.raw)
    if "state_at" in table.c:
        condition = condition & (table.c.state_at <= excluded.state_at)
    return condition


def _changed_sqlite(table: Table, excluded: Any) -> ColumnElement[bool]:
    # SQLite keeps JSON as text: compare the minified form, so a writer that serialises with other
    # spacing (the webhook receiver, an older engine) does not count as a change.
    condition: ColumnElement[bool] = func.json(table.c.raw).is_distinct_from(func.json(excluded.raw))
    if "state_at" in table.c:
        condition = condition & (table.c.state_at <= excluded.state_at)
    return condition


def _json_text(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def make_sync_engine(database_url: str | None = None) -> Engine:
    """The engine the sync writes with: data.db's, with orjson for the `raw` columns (3x faster than json)."""
    return make_engine(database_url, json_serializer=_json_text)


def _payment_hours_refresher() -> Callable[[Connection, Iterable[datetime]], None] | None:
    """analytics.rollups.refresh_payment_hours, once the analytics package provides it."""
    try:
        module = importlib.import_module("analytics.rollups")
    except ModuleNotFoundError as error:
        if error.name in ("analytics", "analytics.rollups"):
            return None
        raise
    refresher = getattr(module, "refresh_payment_hours", None)
    return refresher if callable(refresher) else None


def write_rows(
    conn: Connection,
    spec: EntitySpec,
    items: Iterable[object],
    ctx: NormaliseContext,
    *,
    run_id: int | None,
    refresh_hours: Callable[[Connection, Iterable[datetime]], None] | None,
) -> tuple[int, int]:
    """Normalise and upsert `items` in the caller's transaction. Returns (rows upserted, quarantined).

    A record that cannot be normalised or stored is quarantined; the rest are written (sync.records).
    """
    return write_records(conn, spec, items, ctx, run_id=run_id, only_if=_only_if, refresh_hours=refresh_hours)


def _only_if(_spec: EntitySpec, conn: Connection) -> Callable[[Table, Any], ColumnElement[bool]]:
    return _changed_sqlite if conn.dialect.name == "sqlite" else _changed


def _commit_window(
    engine: Engine,
    spec: EntitySpec,
    window: _Window,
    ctx: NormaliseContext,
    *,
    run_id: int,
    counts: EntityCounts,
    all_counts: Mapping[str, EntityCounts],
    refresh_hours: Callable[[Connection, Iterable[datetime]], None] | None,
) -> None:
    with engine.begin() as conn:
        upserted, quarantined = write_rows(
            conn, spec, window.items, ctx, run_id=run_id, refresh_hours=refresh_hours
        )
        counts.fetched += len(window.items)
        counts.upserted += upserted
        counts.quarantined += quarantined
        counts.windows += 1
        counts.requests += window.requests
        if window.closed:
            advance_checkpoint(conn, spec.name, window.end, run_id)
            counts.synced_until = window.end.isoformat()
        record_run_counts(conn, run_id, {name: c.as_json() for name, c in all_counts.items()})


# --- fetching -----------------------------------------------------------------------------------------


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


class _Fetcher:
    """Pages one entity's windows through the SDK."""

    def __init__(self, client: SdkClient, spec: EntitySpec, options: SyncOptions) -> None:
        self.client = client
        self.spec = spec
        self.options = options
        self.method = spec.sdk_method(client.razorpay)
        self.pool = ThreadPoolExecutor(max_workers=max(1, options.parallel_pages), thread_name_prefix="page")

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)

    def page(self, params: Mapping[str, Any], skip: int) -> list[Mapping[str, Any]]:
        body = self.client.call(self.method, {**params, "count": self.spec.page_size, "skip": skip})
        items = body.get("items")
        if not isinstance(items, list):
            raise ValueError(f"{self.spec.name}: the API answered without an items list")
        return items

    def all_pages(
        self, params: Mapping[str, Any], first: list[Mapping[str, Any]]
    ) -> tuple[list[Mapping[str, Any]], int]:
        """Every item of a listing whose first page is `first`: pages until a short page."""
        items = list(first)
        requests = 1
        size = self.spec.page_size
        skip = size
        if len(first) < size:
            return items, requests
        parallel = max(1, self.options.parallel_pages)
        while True:
            skips = [skip + i * size for i in range(parallel)]
            pages = list(self.pool.map(lambda s: self.page(params, s), skips))
            requests += len(pages)
            for page in pages:
                items.extend(page)
                if len(page) < size:
                    return items, requests
            skip = skips[-1] + size

    def windows(self, begin: datetime, end: datetime) -> Iterator[_Window]:
        """Closed created_at windows from `begin` to `end`, sized to hold about target_window_rows."""
        spec = self.spec
        length = spec.initial_window
        start = begin
        target = spec.target_window_rows
        while start < end:
            stop = min(start + length, end)
            params = {**spec.params, "from": _epoch(start), "to": _epoch(stop)}
            first = self.page(params, 0)
            estimate = self._estimate_rows(first, start, stop)
            if estimate > 4 * target and stop - start > MIN_WINDOW:
                # Far denser than expected: shrink before paging through it all (costs one request).
                length = max(MIN_WINDOW, (stop - start) * (target / estimate))
                continue
            items, requests = self.all_pages(params, first)
            yield _Window(start, stop, items, closed=True, requests=requests)
            # Aim the next window at `target` rows, changing its length at most twofold per step.
            scale = min(2.0, max(0.5, target / max(1, len(items))))
            length = min(MAX_WINDOW, max(MIN_WINDOW, (stop - start) * scale))
            start = stop

    def _estimate_rows(self, first: list[Mapping[str, Any]], start: datetime, stop: datetime) -> float:
        # Lists come newest first; the span the first full page covers tells the window's density.
        if len(first) < self.spec.page_size:
            return float(len(first))
        created = [item.get("created_at") for item in first if isinstance(item, Mapping)]
        oldest = min((c for c in created if isinstance(c, int)), default=None)
        if oldest is None:
            return float(len(first))
        span = max(1, _epoch(stop) - oldest)
        return len(first) * (_epoch(stop) - _epoch(start)) / span

    def report_days(self, first_day: date, last_day: date, end: datetime) -> Iterator[_Window]:
        """Each Indian calendar day of the recon report, in chunks of about target_window_rows lines.

        Only a day's last chunk may move the checkpoint, and only when the day is over; a crash
        mid-day re-reads the whole day, which the idempotent upsert absorbs.
        """
        size = self.spec.page_size
        parallel = max(1, self.options.parallel_pages)
        day = first_day
        while day <= last_day:
            day_start = datetime(day.year, day.month, day.day, tzinfo=REPORT_TIMEZONE).astimezone(UTC)
            next_day = day + timedelta(days=1)
            day_end = datetime(
                next_day.year, next_day.month, next_day.day, tzinfo=REPORT_TIMEZONE
            ).astimezone(UTC)
            params = {"year": day.year, "month": day.month, "day": day.day}
            pending: list[Mapping[str, Any]] = []
            requests = 0
            skip = 0
            finished = False
            while not finished:
                skips = [skip + i * size for i in range(parallel if skip else 1)]
                pages = list(self.pool.map(partial(self.page, params), skips))
                requests += len(pages)
                for page in pages:
                    pending.extend(page)
                    if len(page) < size:
                        finished = True
                        break
                if not finished and len(pending) >= self.spec.target_window_rows:
                    yield _Window(day_start, day_end, pending, closed=False, requests=requests)
                    pending, requests = [], 0
                skip = skips[-1] + size
            yield _Window(day_start, day_end, pending, closed=day_end <= end, requests=requests)
            day = next_day


def _prefetched(windows: Iterator[_Window], depth: int, stop: threading.Event) -> Iterator[_Window]:
    """Run `windows` in a background thread, `depth` windows ahead of the consumer."""
    handoff: queue.Queue[_Window | BaseException | None] = queue.Queue(maxsize=max(1, depth))

    def produce() -> None:
        try:
            for window in windows:
                while not stop.is_set():
                    try:
                        handoff.put(window, timeout=0.2)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            handoff.put(None)
        except BaseException as error:  # handed to the consumer, which re-raises it
            handoff.put(error)

    thread = threading.Thread(target=produce, name="sync-fetch", daemon=True)
    thread.start()
    try:
        while True:
            got = handoff.get()
            if got is None:
                return
            if isinstance(got, BaseException):
                raise got
            yield got
    finally:
        stop.set()
        thread.join(timeout=30)


# --- the loop -----------------------------------------------------------------------------------------


def _first_run_start(conn: Connection, spec: EntitySpec, end: datetime, options: SyncOptions) -> datetime:
    if spec.paging == "daily_report":
        # Lines settle after their payments: start from the oldest payment we hold, when we hold any.
        oldest = oldest_payment_created_at(conn)
        if oldest is not None:
            return oldest
    return end - options.first_run_history


def _sync_entity(
    engine: Engine,
    client: SdkClient,
    spec: EntitySpec,
    options: SyncOptions,
    *,
    until: datetime,
    run_id: int,
    all_counts: dict[str, EntityCounts],
    progress: Progress,
) -> None:
    counts = all_counts[spec.name]
    end = until - options.safety_lag
    lookback = options.lookback if options.lookback is not None else spec.lookback
    with engine.connect() as conn:
        checkpoint = read_checkpoint(conn, spec.name)
        if options.since is not None:
            begin = options.since
        elif checkpoint is not None:
            begin = min(checkpoint, end) - lookback
        else:
            begin = _first_run_start(conn, spec, end, options)
    ctx = NormaliseContext(
        state_at=datetime.now(UTC), source="api", country_notes_key=options.country_notes_key
    )
    refresh_hours = _payment_hours_refresher()
    fetcher = _Fetcher(client, spec, options)
    stop = threading.Event()
    progress.start(spec.name, begin, end)
    try:
        if spec.paging == "daily_report":
            first_day = begin.astimezone(REPORT_TIMEZONE).date()
            last_day = end.astimezone(REPORT_TIMEZONE).date()
            windows = fetcher.report_days(first_day, last_day, end)
        else:
            windows = fetcher.windows(begin, end)
        for window in _prefetched(windows, options.prefetch_windows, stop):
            _commit_window(
                engine,
                spec,
                window,
                ctx,
                run_id=run_id,
                counts=counts,
                all_counts=all_counts,
                refresh_hours=refresh_hours,
            )
            progress.window_done(spec.name, min(window.end, end), counts)
    finally:
        stop.set()
        fetcher.close()
    progress.finish(spec.name, counts)


def run_sync(
    engine: Engine,
    client: SdkClient,
    options: SyncOptions = SyncOptions(),
    *,
    progress: Progress | None = None,
) -> SyncResult:
    """Sync the chosen entities once, recorded as one row of sync_runs. Raises on a failed run
    (after recording it); the checkpoints of completed windows stay, so the next run resumes."""
    for name in options.entities:
        entity_spec(name)  # fails fast on an unknown name
    progress = progress or LogProgress()
    until = options.until or datetime.now(UTC)
    run_id = begin_run(engine, options.trigger)
    result = SyncResult(run_id=run_id, status="running")
    result.counts = {name: EntityCounts() for name in options.entities}
    try:
        # Entities in declaration order: settlement lines find their first day from the payments.
        for name in ENTITY_NAMES:
            if name in options.entities:
                _sync_entity(
                    engine,
                    client,
                    entity_spec(name),
                    options,
                    until=until,
                    run_id=run_id,
                    all_counts=result.counts,
                    progress=progress,
                )
    except BaseException as error:
        result.status = "failed"
        result.error = f"{type(error).__name__}: {error}"[:2000]
        finish_run(
            engine,
            run_id,
            status="failed",
            counts={n: c.as_json() for n, c in result.counts.items()},
            error=result.error,
        )
        raise
    result.status = "succeeded"
    finish_run(
        engine,
        run_id,
        status="succeeded",
        counts={n: c.as_json() for n, c in result.counts.items()},
        error=None,
    )
    return result
