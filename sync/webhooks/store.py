"""The receiver's one writer thread: deliveries and rejections queue up, and each batch is written in
one short transaction (group commit), so a 2xx is only ever sent for an event that is committed.

One writer per process keeps SQLite free of writer-vs-writer lock waits and turns a burst of N
requests into one COMMIT instead of N. If a batch fails, each item is retried alone, so one bad
event can never cost the others their answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import random
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from itertools import groupby
from typing import Any, Literal

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError

from data import rollups
from data.errors import describe_error, is_transient
from data.upsert import upsert
from data.webhook_events import (
    LagCounts,
    classify_unwritten,
    count_repeats,
    insert_new_events,
    recent_payment_hours,
    record_conflicts,
    record_rejections,
)
from sync.quarantine import quarantine
from sync.webhooks.apply import ENTITY_MODELS, EntityFailure, EventPlan, OnlyIf, plan_event, rule_for
from sync.webhooks.intake import Delivery, Rejection

logger = logging.getLogger(__name__)

Outcome = Literal["stored", "duplicate", "conflict", "rejected"]

_MAX_BATCH = 512
# How long a delivery may wait for others to share its transaction. A batch's fixed cost (COMMIT,
# its statements' round trips) is most of the writer's CPU when deliveries come one at a time;
# waiting a few ms at 1,000/s puts several in each commit. A delivery that already waited that long
# for a busy writer is written at once, so the wait never adds to a backlog.
BATCH_DELAY_SECONDS = 0.01
# SQLite reports some refusals of a value as OperationalError ("malformed JSON"); these words mark the
# OperationalErrors that mean the database is down or busy.
_UNAVAILABLE_WORDS = (
    "locked",
    "busy",
    "disk",
    "unable to open",
    "connection",
    "server closed",
    "terminat",
    "timeout",
)

_REFRESH_SPACING = 9.0
_IDLE_REFRESH_MIN_WAIT = 0.05
_TRANSIENT_ATTEMPTS = 6


def _unavailable(error: BaseException) -> bool:
    """The database is down or busy, not refusing this event: answered 5xx so that Razorpay retries."""
    if isinstance(error, InterfaceError | DisconnectionError):
        return True
    return isinstance(error, OperationalError) and any(
        w in str(error.orig).lower() for w in _UNAVAILABLE_WORDS
    )


def _error_text(error: BaseException) -> str:
    """The error class and the database's first line: never the bound parameters."""
    original = getattr(error, "orig", None) or error
    text = str(original).strip()
    return f"{type(original).__name__}: {text.splitlines()[0] if text else ''}"


@dataclass(frozen=True, slots=True)
class StoreResult:
    outcome: Outcome
    applied: bool = True  # false when a stored event's entities were not (all) applied
    apply_failed: bool = False  # true only when applying failed (an unknown type is not applied, by design)
    event_id: str | None = None  # for a duplicate or conflict: the stored event it belongs to


Item = Delivery | Rejection


class WriterFull(Exception):
    """More deliveries are queued than the configured limit: answer 503 now, Razorpay retries."""


RefreshHours = Callable[[Connection, Iterable[datetime]], None]


class EventWriter:
    """Owns the database writes of one receiver process.

    Rollups: `data.rollups.refresh_payment_hours` recomputes whole hours from raw payments, so
    its cost grows with the hour's volume. With `rollup_interval` > 0 the hours touched by several
    batches are refreshed together, at most once per interval (and no sooner than 9x the last
    refresh's duration), inside the transaction of the batch then being written, or alone when
    idle: rollups trail raw payments by about that interval. With 0 every batch refreshes its own
    hours in its own transaction (strictly the sync's contract, but throughput then falls as the
    hour's volume grows).
    """

    def __init__(
        self,
        engine: Engine,
        *,
        country_notes_key: str = "country",
        rollup_interval: float = 1.0,
        max_pending: int = 4096,
        batch_delay: float = BATCH_DELAY_SECONDS,
    ) -> None:
        self._engine = engine
        self._max_pending = max_pending
        self._batch_delay = batch_delay
        self._country_notes_key = country_notes_key
        self._rollup_interval = rollup_interval
        # None asks the thread to stop. Each item carries when it was queued (time.monotonic()).
        self._queue: queue.SimpleQueue[tuple[Item, asyncio.Future[StoreResult], float] | None] = (
            queue.SimpleQueue()
        )
        # The writer thread's connection, kept between batches (a pool checkout, with PostgreSQL's
        # pre-ping, per batch cost more than a small batch's statements); dropped after any error.
        self._conn: Connection | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._dirty_hours: set[datetime] = set()  # committed payments whose rollups are not refreshed yet
        self._last_refresh = 0.0
        self._refresh_seconds = 0.0  # duration of the last refresh

    def submit(self, item: Item) -> asyncio.Future[StoreResult]:
        """Queue an item; the future (of the calling event loop) resolves once it is committed.
        Raises WriterFull when `max_pending` items already wait (the batch being written not counted)."""
        if self._queue.qsize() >= self._max_pending:
            raise WriterFull
        self._ensure_started()
        future: asyncio.Future[StoreResult] = asyncio.get_running_loop().create_future()
        self._queue.put((item, future, time.monotonic()))
        return future

    def stop(self) -> None:
        """Finish what is queued, refresh pending rollups, then stop the thread."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join()

    def _ensure_started(self) -> None:
        if self._thread is not None:
            return
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="webhook-writer", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        self._recover_rollups()
        try:
            while self._run_once():
                pass
        finally:
            self._drop_connection()

    def _run_once(self) -> bool:
        """Collect one batch and write it; False once asked to stop."""
        try:
            wait = max(self._rollup_interval, _IDLE_REFRESH_MIN_WAIT) if self._dirty_hours else None
            first = self._queue.get(timeout=wait)
        except queue.Empty:
            self._refresh_alone()
            return True
        if first is None:
            self._refresh_alone()
            return False
        batch: list[tuple[Item, asyncio.Future[StoreResult]]] = [first[:2]]
        # Wait for company until the first item has been queued `batch_delay`, taking whatever else
        # is queued meanwhile.
        until = first[2] + self._batch_delay
        stop = False
        while len(batch) < _MAX_BATCH:
            try:
                left = until - time.monotonic()
                more = self._queue.get(timeout=left) if left > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            if more is None:
                stop = True
                break
            batch.append(more[:2])
        # A request that already timed out (answered 503) is not written; Razorpay will retry it.
        # Reading cancelled() from this thread can race a cancel: then the item is just written.
        live = [(item, future) for item, future in batch if not future.cancelled()]
        if live:
            self._write(live)
        if stop:
            self._refresh_alone()
            return False
        return True

    def _write(self, batch: Sequence[tuple[Item, asyncio.Future[StoreResult]]]) -> None:
        outcomes: list[StoreResult | BaseException]
        try:
            outcomes = list(self._write_batch([item for item, _ in batch]))
        except Exception as error:
            logger.warning(
                "webhook batch of %d failed (%s); writing each alone", len(batch), describe_error(error)
            )
            outcomes = []
            for item, _ in batch:
                try:
                    outcomes.append(self._write_alone(item))
                except Exception as item_error:
                    logger.error("could not store webhook item: %s", describe_error(item_error))
                    outcomes.append(item_error)
        _settle([future for _, future in batch], outcomes)

    def _write_alone(self, item: Item) -> StoreResult:
        try:
            return self._write_batch([item])[0]
        except Exception as error:  # SQLAlchemyError, and SQLite's OverflowError, which is not one
            # A race lost on every retry (is_transient) is not the event's fault either: 5xx, retried.
            if not isinstance(item, Delivery) or _unavailable(error) or is_transient(error):
                raise
            # The event verified but its entities would not go into the database (a value the
            # schema refuses): keep the event, with the reason, and its records in quarantine.
            # Only the error class goes to the log: a message can carry the payload's values.
            reason = f"database refused the entities: {_error_text(error)}"[:2000]
            logger.warning("event %s stored without applying: %s", item.event_id, type(error).__name__)
        try:
            return self._write_batch([item], apply_error=reason)[0]
        except Exception as error:
            if _unavailable(error):
                raise
            # Not even the envelope would store: keep the event with a stub payload and the reason,
            # so a validly signed delivery is never answered 5xx for its content.
            logger.warning("event %s stored without its payload: %s", item.event_id, type(error).__name__)
            stub = {"event": item.event_type, "unstorable_payload": _error_text(error)[:500]}
            return self._write_batch([replace(item, payload=stub)], apply_error=reason)[0]

    def _write_batch(self, items: Sequence[Item], *, apply_error: str | None = None) -> list[StoreResult]:
        """Write `items` in one transaction, run again (a few times) when it loses a race with another
        writer: replicas upserting the same payments can deadlock, and PostgreSQL then aborts one of
        them. Retried here, the race costs a few milliseconds instead of a 5xx."""
        for attempt in range(_TRANSIENT_ATTEMPTS):
            try:
                return self._write_batch_once(items, apply_error=apply_error)
            except DBAPIError as error:
                if not is_transient(error) or attempt == _TRANSIENT_ATTEMPTS - 1:
                    raise
                logger.info("webhook batch lost a race (%s); retrying", describe_error(error))
                time.sleep(random.uniform(0.005, 0.02) * (2**attempt))
        raise AssertionError("unreachable")

    def _write_batch_once(self, items: Sequence[Item], *, apply_error: str | None) -> list[StoreResult]:
        touched: set[datetime] = set()
        refreshed = False
        if self._conn is None:
            self._conn = self._engine.connect()
        conn = self._conn
        try:
            with conn.begin():
                results = write_items(
                    conn,
                    items,
                    country_notes_key=self._country_notes_key,
                    apply_error=apply_error,
                    refresh_payment_hours=lambda _conn, hours: touched.update(hours),
                )
                if (touched or self._dirty_hours) and self._refresh_due():
                    refreshed = self._refresh_in(conn, touched | self._dirty_hours)
        except BaseException:
            # Whatever failed (a lost race, a dropped server), the next transaction starts on a
            # connection the pool checks out (and, on PostgreSQL, pings) afresh.
            self._drop_connection()
            raise
        # Only after COMMIT: a rolled-back batch changed no payments and refreshed nothing.
        if refreshed:
            self._dirty_hours.clear()
            self._last_refresh = time.monotonic()
        else:
            self._dirty_hours |= touched
        return results

    def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    def _refresh_due(self) -> bool:
        if self._rollup_interval == 0:
            return True  # strict: every transaction refreshes the hours it wrote, whatever it costs
        # A refresh recomputes whole hours, so its cost grows with their volume: spacing refreshes by
        # at least 9x their own duration keeps them under ~10% of the writer's time at any rate.
        wait = max(self._rollup_interval, _REFRESH_SPACING * self._refresh_seconds)
        return time.monotonic() - self._last_refresh >= wait

    def _timed_refresh(self, conn: Connection, hours: Iterable[datetime]) -> None:
        started = time.monotonic()
        rollups.refresh_payment_hours(conn, sorted(hours))
        self._refresh_seconds = time.monotonic() - started

    def _refresh_in(self, conn: Connection, hours: set[datetime]) -> bool:
        """Refresh inside the batch's transaction, in a savepoint: rollups are derived data, so a
        failing refresh must not cost the events their commit (the hours stay pending)."""
        try:
            with conn.begin_nested():
                self._timed_refresh(conn, hours)
        except Exception as error:
            logger.warning(
                "rollup refresh failed (%s); events are stored, hours stay pending", describe_error(error)
            )
            self._last_refresh = time.monotonic()  # retry after the interval, not on every batch
            return False
        return True

    def _refresh_alone(self) -> None:
        if not self._dirty_hours:
            return
        try:
            with self._engine.begin() as conn:
                self._timed_refresh(conn, self._dirty_hours)
        except Exception as error:
            logger.warning("rollup refresh failed (%s); will retry", describe_error(error))
            self._last_refresh = time.monotonic()
            return
        self._dirty_hours.clear()
        self._last_refresh = time.monotonic()

    def _recover_rollups(self) -> None:
        """Refresh the hours of the last minute of events before this process started: a receiver
        killed inside a rollup interval left them committed but possibly not yet rolled up."""
        try:
            with self._engine.connect() as conn:
                self._dirty_hours = recent_payment_hours(conn)
        except Exception as error:
            logger.warning("could not read recent events for rollup recovery (%s)", describe_error(error))
        self._refresh_alone()


def write_items(
    conn: Connection,
    items: Sequence[Item],
    *,
    country_notes_key: str = "country",
    apply_error: str | None = None,
    refresh_payment_hours: RefreshHours | None = None,
) -> list[StoreResult]:
    """Write deliveries and rejections in the caller's transaction; one result per item, in order.

    With `apply_error`, new events are stored with that error and their entities quarantined
    instead of applied.
    """
    results: list[StoreResult | None] = [None] * len(items)
    deliveries = [(i, item) for i, item in enumerate(items) if isinstance(item, Delivery)]
    first_of: dict[str, Delivery] = {}
    for _, delivery in deliveries:
        first_of.setdefault(delivery.event_id, delivery)
    # Normalise before the first write: on SQLite the write lock is held from the first INSERT to
    # COMMIT, so the Python work stays outside it (other receiver processes can write meanwhile).
    plans = {
        event_id: plan_event(delivery, country_notes_key=country_notes_key)
        for event_id, delivery in first_of.items()
    }
    if apply_error is not None:
        for plan in plans.values():
            _fail_apply(plan, apply_error)

    rejections = [(i, item) for i, item in enumerate(items) if isinstance(item, Rejection)]
    record_rejections(conn, [item.as_row() for _, item in rejections])
    for i, _ in rejections:
        results[i] = StoreResult("rejected")
    # The lag-rollup counts of the new events and of the repeats go in as one statement, below.
    lag = LagCounts()
    inserted = insert_new_events(
        conn,
        sorted((plan.event_row for plan in plans.values()), key=lambda row: str(row["event_id"])),
        lag=lag,
    )

    repeats: dict[str, tuple[int, datetime]] = {}
    conflicts: dict[str, tuple[int, datetime, str, Any]] = {}
    unwritten: list[tuple[int, Delivery]] = []
    for i, delivery in deliveries:
        if first_of[delivery.event_id] is delivery and delivery.event_id in inserted:
            plan = plans[delivery.event_id]
            results[i] = StoreResult(
                "stored",
                applied=bool(plan.event_row["applied"]),
                apply_failed=plan.event_row["apply_error"] is not None,
            )
        else:
            unwritten.append((i, delivery))
    # A repeat of a stored event (same id and body, or the same body under a new id) only counts; the
    # same id with another validly signed body is a conflict: kept on the stored event, flagged.
    kinds = classify_unwritten(conn, [(d.event_id, d.body_sha256 or None) for _, d in unwritten])
    lag_keys = {kind.event_id: kind.lag_key for kind in kinds if kind.lag_key is not None}
    for (i, delivery), kind in zip(unwritten, kinds, strict=True):
        if kind.conflict:
            count = conflicts.get(kind.event_id, (0,))[0]
            conflicts[kind.event_id] = (
                count + 1,
                delivery.received_at,
                delivery.body_sha256,
                plan_event(delivery, country_notes_key=country_notes_key).event_row["payload"],
            )
            results[i] = StoreResult("conflict", event_id=kind.event_id)
            continue
        count, _ = repeats.get(kind.event_id, (0, delivery.received_at))
        repeats[kind.event_id] = (count + 1, delivery.received_at)
        results[i] = StoreResult("duplicate", event_id=kind.event_id)
    count_repeats(conn, repeats, lag=lag, lag_keys=lag_keys)
    record_conflicts(conn, conflicts)
    lag.write(conn)

    new_plans = [plan for plan in plans.values() if plan.event_row["event_id"] in inserted]
    _apply(conn, new_plans, refresh_payment_hours)
    assert all(result is not None for result in results)
    return [result for result in results if result is not None]


def _fail_apply(plan: EventPlan, error: str) -> None:
    if not plan.event_row["known_type"]:
        return
    for entity, row in plan.entity_rows:
        plan.failures.append(EntityFailure(entity, row["raw"], error))
    plan.entity_rows.clear()
    plan.event_row["applied"] = False
    plan.event_row["apply_error"] = error


def _apply(
    conn: Connection,
    plans: Sequence[EventPlan],
    refresh_payment_hours: RefreshHours | None,
) -> None:
    rows_by_entity: dict[str, list[tuple[OnlyIf, dict[str, Any]]]] = {}
    for plan in plans:
        event_type = plan.event_row["event_type"]
        for entity, row in plan.entity_rows:
            rows_by_entity.setdefault(entity, []).append((rule_for(entity, event_type), row))
        for failure in plan.failures:
            quarantine(conn, entity=failure.entity, raw=failure.raw, reason=failure.reason, source="webhook")
    # Entities, and ids within a statement, in one fixed order: two replicas writing overlapping
    # batches then take row locks in the same order, which avoids most deadlocks (the rest retry).
    for entity, ruled_rows in sorted(rows_by_entity.items()):
        # In delivery order, in runs that share a rule; within a run, one snapshot per entity id per
        # statement (a multi-row ON CONFLICT may not touch a row twice). The rule then decides
        # between snapshots of one entity even inside the same batch.
        for rule, run in groupby(ruled_rows, key=lambda pair: pair[0]):
            for round_rows in _rounds([row for _, row in run]):
                round_rows.sort(key=lambda row: str(row["id"]))
                upsert(conn, ENTITY_MODELS[entity], round_rows, only_if=rule)
    payment_rows = [row for _, row in rows_by_entity.get("payment", [])]
    if payment_rows and refresh_payment_hours is not None:
        refresh_payment_hours(conn, sorted(rollups.payment_hours(payment_rows)))


def _settle(
    futures: Sequence[asyncio.Future[StoreResult]], outcomes: Sequence[StoreResult | BaseException]
) -> None:
    """Resolve the futures on their own event loops: one wake-up per loop per batch, not per item."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[StoreResult], Any]]] = {}
    for future, outcome in zip(futures, outcomes, strict=True):
        by_loop.setdefault(future.get_loop(), []).append((future, outcome))
    for loop, pairs in by_loop.items():
        with contextlib.suppress(RuntimeError):  # that loop is closed: nobody is waiting any more
            loop.call_soon_threadsafe(_resolve, pairs)


def _resolve(pairs: Sequence[tuple[asyncio.Future[StoreResult], StoreResult | BaseException]]) -> None:
    for future, outcome in pairs:
        if future.done():  # cancelled by its request's timeout
            continue
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)


def _rounds(rows: Sequence[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    rounds: list[list[dict[str, Any]]] = []
    seen: dict[Any, int] = {}
    for row in rows:
        k = seen.get(row["id"], 0)
        seen[row["id"]] = k + 1
        if k == len(rounds):
            rounds.append([])
        rounds[k].append(row)
    return rounds


def received_now() -> datetime:
    return datetime.now(UTC)
