"""The one pager (skip/count until a short page) and the partition strategies the entities declare.

After dlt's `pagination()` (one generator that yields pages; the caller decides batching and commits)
and the Singer SDK's paginator classes (another scheme is another class, not an `if` in the loop):
`Pager.pages` pages one listing, and a `Partition` cuts an entity's time range into the listings it
pages — closed `created_at` windows sized to the data, or the recon report's Indian calendar days —
and groups their items into the chunks the sync commits, each with what its checkpoint may say.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
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
    # Requests this page accounts for: a parallel batch is counted on its first page, so summing
    # `requests` over the pages consumed counts every request made, the ones past the end included.
    requests: int
    # No further page is in hand: the next one costs a request (a chunk may end here).
    batch_done: bool


@dataclass(frozen=True)
class Chunk:
    """Items the sync commits in one transaction, with the range the checkpoint may move to."""

    begin: datetime
    end: datetime
    items: list[Item]
    # Whether the checkpoint may move to `end` (false for a report day that is not over yet).
    closed: bool
    requests: int


@dataclass(frozen=True)
class Pager:
    """Skip/count paging of one list endpoint: `skip += count` until a page comes back short.

    Razorpay's lists have no total and no cursor. After the first page, `parallel` pages are
    requested at once (through `executor`); those past the end come back empty and are dropped.
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

    def pages(
        self, params: Mapping[str, Any], first: list[Item] | None = None, expected: float | None = None
    ) -> Iterator[Page]:
        """Every page of the listing `params`, in skip order. `first`: its first page, already fetched.
        `expected`: about how many items the listing holds, so a batch asks for the pages that should
        exist plus one, not `parallel` pages past the end (each of those is a wasted request)."""
        if first is None:
            first = self.page(params, 0)
        yield Page(first, 0, requests=1, batch_done=True)
        if len(first) < self.page_size:
            return
        size = self.page_size
        width = max(1, self.parallel)
        skip = size
        while True:
            wanted = width
            if expected is not None:
                wanted = max(1, min(width, math.ceil((expected - skip) / size) + 1))
            skips = [skip + i * size for i in range(wanted)]
            batch = self._fetch(params, skips)
            for i, (at, items) in enumerate(zip(skips, batch, strict=True)):
                short = len(items) < size
                yield Page(items, at, requests=wanted if i == 0 else 0, batch_done=short or i == wanted - 1)
                if short:
                    return
            skip = skips[-1] + size

    def _fetch(self, params: Mapping[str, Any], skips: list[int]) -> list[list[Item]]:
        if self.executor is None or len(skips) == 1:
            return [self.page(params, skip) for skip in skips]
        return list(self.executor.map(lambda skip: self.page(params, skip), skips))


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

    Each window is one chunk, and its end is the checkpoint. A window whose first page shows it far
    denser than expected is shrunk before it is paged through (costing that one request).
    """

    cursor: str = "created_at"
    initial: timedelta = timedelta(hours=6)
    target_rows: int = 2000

    def first_run_start(self, conn: Connection, end: datetime, history: timedelta) -> datetime:
        return end - history

    def chunks(
        self, pager: Pager, params: Mapping[str, Any], begin: datetime, end: datetime
    ) -> Iterator[Chunk]:
        length = self.initial
        start = begin
        target = self.target_rows
        while start < end:
            stop = min(start + length, end)
            window = {**params, "from": _epoch(start), "to": _epoch(stop)}
            first = pager.page(window, 0)
            estimate = self._estimate_rows(first, pager.page_size, start, stop)
            if estimate > 4 * target and stop - start > MIN_WINDOW:
                length = max(MIN_WINDOW, (stop - start) * (target / estimate))
                continue
            items: list[Item] = []
            requests = 0
            for page in pager.pages(window, first, expected=estimate):
                items.extend(page.items)
                requests += page.requests
            yield Chunk(start, stop, items, closed=True, requests=requests)
            # Aim the next window at `target` rows, changing its length at most twofold per step.
            scale = min(2.0, max(0.5, target / max(1, len(items))))
            length = min(MAX_WINDOW, max(MIN_WINDOW, (stop - start) * scale))
            start = stop

    def _estimate_rows(self, first: list[Item], page_size: int, start: datetime, stop: datetime) -> float:
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
    of about `target_rows` lines.

    Only a day's last chunk may move the checkpoint, and only when the day is over; a crash mid-day
    re-reads the whole day, which the idempotent upsert absorbs.
    """

    target_rows: int = 2000

    def first_run_start(self, conn: Connection, end: datetime, history: timedelta) -> datetime:
        # Lines settle after their payments: start from the oldest payment we hold, when we hold any.
        oldest = oldest_payment_created_at(conn)
        return oldest if oldest is not None else end - history

    def chunks(
        self, pager: Pager, params: Mapping[str, Any], begin: datetime, end: datetime
    ) -> Iterator[Chunk]:
        day = begin.astimezone(REPORT_TIMEZONE).date()
        last_day = end.astimezone(REPORT_TIMEZONE).date()
        while day <= last_day:
            next_day = day + timedelta(days=1)
            day_start, day_end = _report_midnight(day), _report_midnight(next_day)
            pending: list[Item] = []
            requests = 0
            for page in pager.pages({**params, "year": day.year, "month": day.month, "day": day.day}):
                pending.extend(page.items)
                requests += page.requests
                last = len(page.items) < pager.page_size
                if page.batch_done and not last and len(pending) >= self.target_rows:
                    yield Chunk(day_start, day_end, pending, closed=False, requests=requests)
                    pending, requests = [], 0
            yield Chunk(day_start, day_end, pending, closed=day_end <= end, requests=requests)
            day = next_day


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
