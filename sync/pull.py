"""The one window / checkpoint loop that pulls every declared entity (see `sync.entities`).

Razorpay has no "updated since" filter and pages with skip/count, so each entity's partition
(`sync.paging`) reads closed `created_at` windows that end a safety lag before now (membership of a
closed window cannot change, so skip cannot drift), or the recon report day by day; the one pager pages
each listing until a short page, and the loop commits each chunk's rows together with the entity's
checkpoint in one transaction. Every run re-reads a trailing look-back to pick up status changes.
A background thread fetches the next chunk while the current one is written.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, Protocol

from razorpay.errors import BadRequestError
from sqlalchemy import ColumnElement, Connection, Engine, Table

from data.sync_lease import DEFAULT_LEASE_TTL, LeaseHeld, Leases, acquire_leases
from data.sync_state import (
    advance_checkpoint,
    begin_run,
    changed_by_webhooks,
    finish_run,
    read_checkpoint,
    record_run_counts,
)
from sync.entities import ENTITY_NAMES, EntitySpec, NormaliseContext, entity_spec
from sync.http import RazorpayUnavailable, SdkClient
from sync.paging import REPORT_TIMEZONE, Chunk, Pager
from sync.records import write_records
from sync.tiers import LookbackTier, due_tier, tier_checkpoint

__all__ = [
    "REPORT_TIMEZONE",
    "EntityCounts",
    "LeaseHeld",
    "LogProgress",
    "Progress",
    "SyncOptions",
    "SyncResult",
    "begin_run",
    "finish_run",
    "read_checkpoint",
    "run_sync",
    "write_rows",
]

log = logging.getLogger(__name__)


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
    # Pages of one listing asked for at once (default: the client's most requests in flight; its
    # adaptive pace decides how many really go out together).
    parallel_pages: int | None = None
    # Entities that do not depend on each other synced side by side, sharing that concurrency.
    parallel_entities: bool = True
    # Chunks read and waiting for the writer (the partitions read further windows ahead themselves).
    prefetch_windows: int = 2
    # When another run holds an entity's lease: wait for it (polling) instead of raising LeaseHeld.
    wait: bool = False
    wait_poll: timedelta = timedelta(seconds=2)
    # How long a lease lasts without a heartbeat before another host may take it over.
    lease_ttl: timedelta = DEFAULT_LEASE_TTL
    # Tiered look-back (sync.tiers): each run re-reads the deepest tier due, and fetches by id what
    # the webhooks named since the last run. Empty: every run re-reads each entity's full look-back.
    # Ignored when `since` or `lookback` is given.
    lookback_tiers: tuple[LookbackTier, ...] = ()


@dataclass
class EntityCounts:
    fetched: int = 0
    upserted: int = 0
    quarantined: int = 0
    windows: int = 0
    requests: int = 0
    # Records fetched one by one because a webhook named them (each one request, within `requests`).
    by_id: int = 0
    synced_until: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "fetched": self.fetched,
            "upserted": self.upserted,
            "quarantined": self.quarantined,
            "windows": self.windows,
            "requests": self.requests,
            "by_id": self.by_id,
            "synced_until": self.synced_until,
        }


@dataclass
class SyncResult:
    run_id: int
    status: str
    counts: dict[str, EntityCounts] = field(default_factory=dict)
    error: str | None = None
    # The look-back tier this run re-read (None without tiers).
    tier: str | None = None

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


# --- writing ------------------------------------------------------------------------------------------


def _changed(table: Table, excluded: Any) -> ColumnElement[bool]:
    # Rewrite a row only when the API says something new, and never with an older state than the
    # one stored (a webhook may have landed a newer state between our fetch and this commit).
    # JSONB compares by value on PostgreSQL; on SQLite every writer serialises JSON through
    # data.db's one serialiser, so equal values are equal text.
    condition: ColumnElement[bool] = table.c.raw.is_distinct_from(excluded.raw)
    if "state_at" in table.c:
        condition = condition & (table.c.state_at <= excluded.state_at)
    return condition


def write_rows(
    conn: Connection,
    spec: EntitySpec,
    items: Iterable[object],
    ctx: NormaliseContext,
    *,
    run_id: int | None,
) -> tuple[int, int]:
    """Normalise and upsert `items` in the caller's transaction, then run the after-write hook of each
    entity written (derived tables such as rollups) in the same transaction. Returns (rows upserted,
    quarantined). A record that cannot be normalised or stored is quarantined and the rest are written
    (sync.records)."""
    return write_records(conn, spec, items, ctx, run_id=run_id, only_if=_changed)


_SQLITE_WRITERS: dict[int, threading.Lock] = {}
_SQLITE_WRITERS_GUARD = threading.Lock()


def _one_writer(engine: Engine) -> AbstractContextManager[object]:
    """SQLite has one writer: the entities synced side by side take turns in this process rather than
    waiting out each other's transactions on the busy timeout (which a long window under load can
    exceed). PostgreSQL writes them side by side."""
    if engine.dialect.name != "sqlite":
        return nullcontext()
    with _SQLITE_WRITERS_GUARD:
        return _SQLITE_WRITERS.setdefault(id(engine), threading.Lock())


def _commit_window(
    engine: Engine,
    spec: EntitySpec,
    window: Chunk,
    ctx: NormaliseContext,
    *,
    run_id: int,
    leases: Leases,
    counts: EntityCounts,
    all_counts: Mapping[str, EntityCounts],
) -> None:
    with _one_writer(engine), engine.begin() as conn:
        # First, so a run that lost its lease writes nothing (and, on SQLite, the write lock is ours).
        leases.fence(conn, spec.name)
        upserted, quarantined = write_rows(conn, spec, window.items, ctx, run_id=run_id)
        counts.fetched += len(window.items)
        counts.upserted += upserted
        counts.quarantined += quarantined
        counts.windows += 1
        counts.requests += window.requests
        if window.closed:
            advance_checkpoint(conn, spec.name, window.end, run_id)
            counts.synced_until = window.end.isoformat()
        record_run_counts(conn, run_id, {name: c.as_json() for name, c in all_counts.items()})


# --- fetching (the pager and the partitions are in sync.paging) ----------------------------------------


def _prefetched(windows: Iterator[Chunk], depth: int, stop: threading.Event) -> Iterator[Chunk]:
    """Run `windows` in a background thread, `depth` windows ahead of the consumer."""
    handoff: queue.Queue[Chunk | BaseException | None] = queue.Queue(maxsize=max(1, depth))

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


def _sync_entity(
    engine: Engine,
    client: SdkClient,
    spec: EntitySpec,
    options: SyncOptions,
    *,
    until: datetime,
    run_id: int,
    leases: Leases,
    all_counts: dict[str, EntityCounts],
    progress: Progress,
    tier: LookbackTier | None = None,
) -> None:
    counts = all_counts[spec.name]
    end = until - options.safety_lag
    if options.lookback is not None:
        lookback = options.lookback
    elif tier is not None:
        lookback = tier.for_entity(spec.lookback)
    else:
        lookback = spec.lookback
    with engine.connect() as conn:
        checkpoint = read_checkpoint(conn, spec.name)
        if options.since is not None:
            begin = options.since
        elif checkpoint is not None:
            begin = min(checkpoint, end) - lookback
        else:
            begin = spec.partition.first_run_start(conn, end, options.first_run_history)
    ctx = NormaliseContext(
        state_at=datetime.now(UTC), source="api", country_notes_key=options.country_notes_key
    )
    parallel = max(1, options.parallel_pages or client.concurrency.ceiling)
    pool = ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="page")
    pager = Pager(
        partial(client.call, spec.sdk_method(client.razorpay)),
        spec.page_size,
        parallel=parallel,
        executor=pool,
        name=spec.name,
    )
    stop = threading.Event()
    progress.start(spec.name, begin, end)
    try:
        windows = spec.partition.chunks(pager, spec.params, begin, end)
        for window in _prefetched(windows, options.prefetch_windows, stop):
            _commit_window(
                engine,
                spec,
                window,
                ctx,
                run_id=run_id,
                leases=leases,
                counts=counts,
                all_counts=all_counts,
            )
            progress.window_done(spec.name, min(window.end, end), counts)
    finally:
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)
    progress.finish(spec.name, counts)


# When the last tiered run fetched what the webhooks named (received_at up to this instant).
WEBHOOKS_CHECKPOINT = "lookback:webhooks"


def _fetch_named_by_webhooks(
    engine: Engine,
    client: SdkClient,
    options: SyncOptions,
    tier: LookbackTier,
    *,
    until: datetime,
    run_id: int,
    leases: Leases,
    counts: dict[str, EntityCounts],
) -> None:
    """Fetch by id the payments, orders and refunds that webhooks received since the last run named,
    except those the look-back just re-read, and write them like listed records."""
    end = until - options.safety_lag
    with engine.connect() as conn:
        since = read_checkpoint(conn, WEBHOOKS_CHECKPOINT)
        if since is None:
            return  # the first tiered run: its full pass read everything (see sync.tiers)
        named = changed_by_webhooks(
            conn, since=since, until=until, created_before=end - tier.for_entity(timedelta(days=3650))
        )
    ctx = NormaliseContext(
        state_at=datetime.now(UTC), source="api", country_notes_key=options.country_notes_key
    )
    with ThreadPoolExecutor(max_workers=client.concurrency.ceiling, thread_name_prefix="by-id") as pool:
        for entity, ids in named.items():
            if entity not in options.entities or not ids:
                continue
            spec = entity_spec(entity)
            fetch = partial(_fetch_one, client, spec.sdk_fetch(client.razorpay), spec)
            records = [record for record in pool.map(fetch, ids) if record is not None]
            entity_counts = counts[entity]
            with _one_writer(engine), engine.begin() as conn:
                leases.fence(conn, entity)
                upserted, quarantined = write_rows(conn, spec, records, ctx, run_id=run_id)
            entity_counts.by_id += len(ids)
            entity_counts.requests += len(ids)
            entity_counts.fetched += len(records)
            entity_counts.upserted += upserted
            entity_counts.quarantined += quarantined


def _fetch_one(
    client: SdkClient, fetch: Callable[..., Any], spec: EntitySpec, record_id: str
) -> Mapping[str, Any] | None:
    try:
        return client.call(fetch, {**spec.params, "id": record_id})
    except RazorpayUnavailable as error:
        if isinstance(error.__cause__, BadRequestError):
            # An id the API does not know (a forged or foreign webhook): nothing to fetch.
            log.warning("%s: a webhook named an id the API refused; skipped", spec.name)
            return None
        raise


def _record_tiers(
    engine: Engine, tiers: Sequence[LookbackTier], ran: LookbackTier, *, until: datetime, run_id: int
) -> None:
    # A deeper pass covers every shallower tier too.
    with engine.begin() as conn:
        for tier in tiers:
            if tier.depth <= ran.depth:
                advance_checkpoint(conn, tier_checkpoint(tier), until, run_id)
        advance_checkpoint(conn, WEBHOOKS_CHECKPOINT, until, run_id)


def _acquire(engine: Engine, options: SyncOptions) -> Leases:
    while True:
        try:
            return acquire_leases(engine, options.entities, ttl=options.lease_ttl)
        except LeaseHeld as held:
            if not options.wait:
                raise
            log.info("%s; waiting", held)
            time.sleep(options.wait_poll.total_seconds())


def run_sync(
    engine: Engine,
    client: SdkClient,
    options: SyncOptions = SyncOptions(),
    *,
    progress: Progress | None = None,
) -> SyncResult:
    """Sync the chosen entities once, recorded as one row of sync_runs, holding their leases (see
    `data.sync_lease`) for the whole run. Raises LeaseHeld, recording nothing, when another run holds
    one of them (unless `options.wait`). Raises on a failed run (after recording it); the checkpoints
    of completed windows stay, so the next run resumes."""
    for name in options.entities:
        entity_spec(name)  # fails fast on an unknown name
    progress = progress or LogProgress()
    until = options.until or datetime.now(UTC)
    leases = _acquire(engine, options)
    try:
        with leases.heartbeat():
            return _run_holding(engine, client, options, leases, until=until, progress=progress)
    finally:
        leases.release()


# Settlement lines find their first day from the payments stored, so on their first run (no --since,
# no checkpoint) they wait for the rest; otherwise every entity is read side by side.
_AFTER_THE_REST = ("settlement_lines",)


def _entity_groups(engine: Engine, options: SyncOptions) -> list[list[str]]:
    """The chosen entities in declaration order, as groups synced one after another; within a group
    side by side when `parallel_entities`."""
    chosen = [name for name in ENTITY_NAMES if name in options.entities]
    if not options.parallel_entities:
        return [[name] for name in chosen]
    waiting = [name for name in chosen if name in _AFTER_THE_REST and options.since is None]
    if waiting:
        with engine.connect() as conn:
            waiting = [name for name in waiting if read_checkpoint(conn, name) is None]
    first = [name for name in chosen if name not in waiting]
    return [group for group in (first, waiting) if group]


def _run_holding(
    engine: Engine,
    client: SdkClient,
    options: SyncOptions,
    leases: Leases,
    *,
    until: datetime,
    progress: Progress,
) -> SyncResult:
    run_id = begin_run(engine, options.trigger, leases)
    result = SyncResult(run_id=run_id, status="running")
    result.counts = {name: EntityCounts() for name in options.entities}
    tiers = options.lookback_tiers if options.since is None and options.lookback is None else ()
    tier: LookbackTier | None = None
    if tiers:
        with engine.connect() as conn:
            tier = due_tier(conn, tiers, until)
        result.tier = tier.label
    sync_one = partial(
        _sync_entity,
        engine,
        client,
        options=options,
        until=until,
        run_id=run_id,
        leases=leases,
        all_counts=result.counts,
        progress=progress,
        tier=tier,
    )
    try:
        for group in _entity_groups(engine, options):
            if len(group) == 1:
                sync_one(entity_spec(group[0]))
                continue
            with ThreadPoolExecutor(max_workers=len(group), thread_name_prefix="entity") as pool:
                futures = [pool.submit(sync_one, entity_spec(name)) for name in group]
                for (
                    future
                ) in futures:  # every entity finishes (committing its windows); the first error is raised
                    future.exception()
                for future in futures:
                    future.result()
        if tier is not None:
            _fetch_named_by_webhooks(
                engine, client, options, tier, until=until, run_id=run_id, leases=leases, counts=result.counts
            )
            _record_tiers(engine, tiers, tier, until=until, run_id=run_id)
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
