"""The one pager (skip/count until a short page) and the partition strategies the entities declare.

After dlt's `pagination()` (one generator that yields pages; the caller decides batching and commits)
and the Singer SDK's paginator classes (another scheme is another class, not an `if` in the loop):
`Pager.pages` pages one listing, and a `Partition` cuts an entity's time range into the listings it
pages — closed `created_at` windows sized to the data, or the recon report's Indian calendar days —
and groups their items into the chunks the sync commits, each with what its checkpoint may say.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import partial
from typing import Any, Protocol

from sqlalchemy import Connection

from data.ist import IST
from data.sync_state import oldest_payment_created_at

__all__ = [
    "MAX_WINDOW",
    "MIN_WINDOW",
    "REPORT_TIMEZONE",
    "Chunk",
    "CreatedWindows",
    "ListCall",
    "Listing",
    "Page",
    "Pager",
    "Partition",
    "ReportDays",
    "WholeList",
]

# Razorpay's settlement days (and the recon report's year/month/day) are Indian calendar days.
REPORT_TIMEZONE = IST
MIN_WINDOW = timedelta(minutes=1)
MAX_WINDOW = timedelta(days=30)

Item = Mapping[str, Any]
# One SDK list call: request parameters in, the decoded body (`{"count", "items": [...]}`) out.
ListCall = Callable[[Mapping[str, Any]], Mapping[str, Any]]


@dataclass(frozen=True)
class Page:
    items: list[Item]
    skip: int
    # Requests this page accounts for: the short page that ends a listing also counts the pages asked
    # for past the end (each a wasted request), so summing `requests` over a listing's pages counts
    # every request it made.
    requests: int


@dataclass(frozen=True)
class Chunk:
    """Items the sync commits in one transaction, with the range the checkpoint may move to."""

    begin: datetime
    end: datetime
    items: list[Item]
    # Whether the checkpoint may move to `end` (false for a report day that is not over yet).
    closed: bool
    requests: int


# Of the rows a listing is estimated to hold, the share whose pages are asked for at once: the
# estimate (from one page) is noisy, and every page asked for past the end is a wasted request.
EAGER_SHARE = 0.85

# From a listing's first page: about how many items the whole listing holds (None: no idea).
Estimator = Callable[[list[Item]], float | None]


@dataclass(frozen=True)
class Pager:
    """Skip/count paging of one list endpoint: `skip += count` until a page comes back short.

    Razorpay's lists have no total and no cursor, but skip offsets are known ahead: once a listing's
    first page says about how many items it holds, the pages that should be full are asked for at
    once (through `executor`, at most `parallel` of one listing outstanding), and past those one page
    at a time, each asked for when the one before it came back full; a short page ends the listing
    and cancels what was asked past it. Without an executor, pages are read one after another.
    """

    call: ListCall
    page_size: int
    parallel: int = 1
    executor: Executor | None = None
    name: str = "list"

    def page(self, params: Mapping[str, Any], skip: int) -> list[Item]:
        body = self.call({**params, "count": self.page_size, "skip": skip})
        items = body.get("items")
        if not isinstance(items, list):
            raise ValueError(f"{self.name}: the API answered without an items list")
        return items

    def listing(
        self,
        params: Mapping[str, Any],
        first: list[Item] | None = None,
        *,
        estimate: Estimator | None = None,
        most: float | None = None,
    ) -> Listing:
        """Start reading the listing `params` (its first page at once, unless `first` is that page).
        `estimate` sizes the listing from its first page; when that says more than `most` items
        nothing past the first page is asked for (the caller will cut the listing smaller)."""
        return Listing(self, params, first, estimate, most)

    def pages(
        self, params: Mapping[str, Any], first: list[Item] | None = None, expected: float | None = None
    ) -> Iterator[Page]:
        """Every page of the listing `params`, in skip order. `first`: its first page, already fetched.
        `expected`: about how many items the listing holds."""
        return self.listing(params, first, estimate=None if expected is None else lambda _: expected).pages()


class Listing:
    """One listing being read: the pages asked for so far (futures by skip) and where it ended."""

    def __init__(
        self,
        pager: Pager,
        params: Mapping[str, Any],
        first: list[Item] | None,
        estimate: Estimator | None,
        most: float | None,
    ) -> None:
        self.pager = pager
        self.params = dict(params)
        self.estimator = estimate
        self.most = most
        self.expected: float | None = None
        self._changed = threading.Condition()
        self._asked: dict[int, Future[list[Item]]] = {}
        self._end: int | None = None  # skip of the first short page seen
        self._eager_until = 0  # pages with a skip up to this are asked for without waiting
        self._first_seen = threading.Event()
        self._next_skip = pager.page_size  # the next page to ask for (skip 0 is asked below)
        if first is not None:
            done: Future[list[Item]] = Future()
            done.set_result(first)
            self._asked[0] = done
            self._landed(0, done)
        elif pager.executor is None:
            self._asked[0] = self._run_now(0)
            self._landed(0, self._asked[0])
        else:
            self._ask(0)

    # -- asking --------------------------------------------------------------------------------------

    def _run_now(self, skip: int) -> Future[list[Item]]:
        done: Future[list[Item]] = Future()
        try:
            done.set_result(self.pager.page(self.params, skip))
        except BaseException as error:  # raised when the page is consumed
            done.set_exception(error)
        return done

    def _ask(self, skip: int) -> None:
        """Ask for the page at `skip`, unless the listing has ended before it."""
        executor = self.pager.executor
        if executor is None:
            return  # pages() reads them in turn
        # Submitted under the lock (re-entrant), so a page past a short one is either cancelled or counted.
        with self._changed:
            if self._end is not None and skip > self._end:
                return
            try:
                future = executor.submit(self.pager.page, self.params, skip)
            except RuntimeError as error:  # the executor is shutting down: the run is ending
                future = Future()
                future.set_exception(error)
            self._asked[skip] = future
            self._changed.notify_all()
        future.add_done_callback(lambda done: self._landed(skip, done))

    def _landed(self, skip: int, future: Future[list[Item]]) -> None:
        if future.cancelled() or future.exception() is not None:
            if skip == 0:
                self._first_seen.set()
            return
        items = future.result()
        size = self.pager.page_size
        to_ask: list[int] = []
        with self._changed:
            if skip == 0:
                self._plan(items)
            if len(items) < size:
                self._end = skip if self._end is None else min(self._end, skip)
                for later, pending in self._asked.items():
                    if later > self._end:
                        pending.cancel()
            elif self._end is None and not self._stopped():
                outstanding = self._next_skip // size - sum(1 for f in self._asked.values() if f.done())
                room = max(1, self.pager.parallel) - outstanding
                # The pages expected to be full, up to `parallel` outstanding; past those, one at a time
                # behind the last full page.
                while room > 0 and self._next_skip <= self._eager_until:
                    to_ask.append(self._next_skip)
                    self._next_skip += size
                    room -= 1
                if not to_ask and skip + size == self._next_skip:
                    to_ask.append(self._next_skip)
                    self._next_skip += size
            self._changed.notify_all()
        if skip == 0:
            self._first_seen.set()
        for at in to_ask:
            self._ask(at)

    def _stopped(self) -> bool:
        return self.expected is not None and self.most is not None and self.expected > self.most

    def _plan(self, first: list[Item]) -> None:
        size = self.pager.page_size
        if self.estimator is not None:
            self.expected = self.estimator(first)
        if self.expected is not None and len(first) >= size:
            # Page n (skip n × size) is full when the listing holds ≥ (n + 1) × size items.
            full_pages = math.floor(EAGER_SHARE * self.expected / size)
            self._eager_until = max(0, full_pages - 1) * size

    # -- reading -------------------------------------------------------------------------------------

    def first(self) -> list[Item]:
        """The first page (waits for it; raises its error)."""
        self._first_seen.wait()
        return self._asked[0].result()

    def too_large(self) -> bool:
        """Whether the first page estimated more items than `most` (then nothing more was asked)."""
        self.first()
        return self._stopped()

    def cancel(self) -> None:
        with self._changed:
            for pending in self._asked.values():
                pending.cancel()
            self._end = -1 if self._end is None else self._end

    def pages(self) -> Iterator[Page]:
        size = self.pager.page_size
        skip = 0
        try:
            while True:
                if skip not in self._asked and (self.pager.executor is None or self._stopped()):
                    # Nobody will ask for it (read in turn, or a listing past `most` read anyway).
                    if self.pager.executor is None:
                        self._asked[skip] = self._run_now(skip)
                    else:
                        with self._changed:
                            self._next_skip = max(self._next_skip, skip + size)
                        self._ask(skip)
                with self._changed:
                    while skip not in self._asked:
                        self._changed.wait()
                    future = self._asked[skip]
                items = future.result()
                requests = 1
                if len(items) < size:
                    with self._changed:
                        self._end = skip if self._end is None else min(self._end, skip)
                        past = [f for at, f in self._asked.items() if at > skip]
                    # A page past the end that had already gone out was a request all the same.
                    requests += sum(1 for f in past if not f.cancel())
                    yield Page(items, skip, requests=requests)
                    return
                yield Page(items, skip, requests=requests)
                skip += size
        finally:
            self.cancel()


class Partition(Protocol):
    """How an entity's time range is cut into listings and committed chunks."""

    def first_run_start(self, conn: Connection, end: datetime, history: timedelta) -> datetime:
        """Where an entity's first run begins when no --since is given."""
        ...

    def chunks(
        self, pager: Pager, params: Mapping[str, Any], begin: datetime, end: datetime
    ) -> Iterator[Chunk]: ...


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


@dataclass(frozen=True)
class CreatedWindows:
    """Closed windows on the list's `from`/`to` filter (on `cursor`), sized to hold about `target_rows`.

    Each window is one chunk, and its end is the checkpoint. Up to `ahead` windows are read at once
    (their first pages together, then each window's pages), the later ones sized from the density the
    latest first page showed. A window whose first page shows it far denser than expected is cut into
    windows of about `target_rows` before it is paged through (costing that one request).
    """

    cursor: str = "created_at"
    initial: timedelta = timedelta(hours=6)
    target_rows: int = 2000
    ahead: int = 4

    def first_run_start(self, conn: Connection, end: datetime, history: timedelta) -> datetime:
        return end - history

    def chunks(
        self, pager: Pager, params: Mapping[str, Any], begin: datetime, end: datetime
    ) -> Iterator[Chunk]:
        target = self.target_rows
        planned: deque[tuple[datetime, datetime, Listing]] = deque()
        length = self.initial
        sized = False  # whether the last first page was full (until then, one window at a time)
        cursor = begin

        def open_window(start: datetime, stop: datetime) -> tuple[datetime, datetime, Listing]:
            window = {**params, "from": _epoch(start), "to": _epoch(stop)}
            estimate = partial(self._estimate_rows, page_size=pager.page_size, start=start, stop=stop)
            return start, stop, pager.listing(window, estimate=estimate, most=4 * target)

        try:
            while True:
                while cursor < end and len(planned) < (self.ahead if sized else 1):
                    stop = min(cursor + length, end)
                    planned.append(open_window(cursor, stop))
                    cursor = stop
                if not planned:
                    return
                start, stop, listing = planned.popleft()
                first = listing.first()
                estimate = listing.expected if listing.expected is not None else float(len(first))
                span = stop - start
                full = len(first) >= pager.page_size
                if listing.too_large() and span > MIN_WINDOW:
                    # Re-plan from its start with windows of about `target` rows (the windows planned
                    # after it were sized from an older density: their first pages are dropped).
                    for _, _, later in planned:
                        later.cancel()
                    planned.clear()
                    cursor = start
                    length, sized = max(MIN_WINDOW, span * (target / estimate)), True
                    continue
                # Aim the windows planned from now on at `target` rows, changing the length at most
                # twofold per window. Windows whose first page is short are read one at a time, so a
                # sparse stretch grows its windows rather than paying a request for each of many.
                scale = target / max(1.0, estimate) if full else 2.0
                length = min(MAX_WINDOW, max(MIN_WINDOW, span * min(2.0, max(0.5, scale))))
                sized = full
                items: list[Item] = []
                requests = 0
                for page in listing.pages():
                    items.extend(page.items)
                    requests += page.requests
                yield Chunk(start, stop, items, closed=True, requests=requests)
        finally:
            for _, _, listing in planned:
                listing.cancel()

    def _estimate_rows(self, first: list[Item], *, page_size: int, start: datetime, stop: datetime) -> float:
        # Lists come newest first; the span of `cursor` the first full page covers tells the density.
        if len(first) < page_size:
            return float(len(first))
        stamps = [item.get(self.cursor) for item in first if isinstance(item, Mapping)]
        oldest = min((s for s in stamps if isinstance(s, int)), default=None)
        if oldest is None:
            return float(len(first))
        span = max(1, _epoch(stop) - oldest)
        return len(first) * (_epoch(stop) - _epoch(start)) / span


def _report_midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=REPORT_TIMEZONE).astimezone(UTC)


@dataclass(frozen=True)
class ReportDays:
    """The recon report, one listing per Indian calendar day (`year`/`month`/`day`), committed in chunks
    of about `target_rows` lines; `ahead` days are read at once.

    Only a day's last chunk may move the checkpoint, and only when the day is over; a crash mid-day
    re-reads the whole day, which the idempotent upsert absorbs. A report day's items carry no time to
    tell its size from its first page, so a day whose first page is full is expected to hold as many
    lines as the smallest full day read so far.
    """

    target_rows: int = 2000
    ahead: int = 4

    def first_run_start(self, conn: Connection, end: datetime, history: timedelta) -> datetime:
        # Lines settle after their payments: start from the oldest payment we hold, when we hold any.
        oldest = oldest_payment_created_at(conn)
        return oldest if oldest is not None else end - history

    def chunks(
        self, pager: Pager, params: Mapping[str, Any], begin: datetime, end: datetime
    ) -> Iterator[Chunk]:
        day = begin.astimezone(REPORT_TIMEZONE).date()
        last_day = end.astimezone(REPORT_TIMEZONE).date()
        planned: deque[tuple[date, Listing]] = deque()
        full_days: list[int] = []  # line counts of the days read so far that held more than a page

        def typical(_first: list[Item]) -> float | None:
            return float(min(full_days)) if full_days else None

        try:
            while True:
                while day <= last_day and len(planned) < self.ahead:
                    listing = pager.listing(
                        {**params, "year": day.year, "month": day.month, "day": day.day}, estimate=typical
                    )
                    planned.append((day, listing))
                    day += timedelta(days=1)
                if not planned:
                    return
                current, listing = planned.popleft()
                day_start, day_end = _report_midnight(current), _report_midnight(current + timedelta(days=1))
                pending: list[Item] = []
                requests = lines = 0
                for page in listing.pages():
                    pending.extend(page.items)
                    lines += len(page.items)
                    requests += page.requests
                    last = len(page.items) < pager.page_size
                    if not last and len(pending) >= self.target_rows:
                        yield Chunk(day_start, day_end, pending, closed=False, requests=requests)
                        pending, requests = [], 0
                if lines >= pager.page_size:
                    full_days.append(lines)
                yield Chunk(day_start, day_end, pending, closed=day_end <= end, requests=requests)
        finally:
            for _, listing in planned:
                listing.cancel()


@dataclass(frozen=True)
class WholeList:
    """An endpoint without filters or paging (Razorpay's payment downtimes): one request for the whole
    list, committed as one chunk that moves the checkpoint to `end`. Its `from`/`to`, `count` and
    `skip` would be ignored, and a skip the API ignores would page forever, so none is sent."""

    def first_run_start(self, conn: Connection, end: datetime, history: timedelta) -> datetime:
        return end - history

    def chunks(
        self, pager: Pager, params: Mapping[str, Any], begin: datetime, end: datetime
    ) -> Iterator[Chunk]:
        body = pager.call(dict(params))
        items = body.get("items")
        if not isinstance(items, list):
            raise ValueError(f"{pager.name}: the API answered without an items list")
        yield Chunk(begin, end, items, closed=True, requests=1)
