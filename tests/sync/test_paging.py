"""The one pager and the partitions, against fake SDK list methods: plain functions answering pages
from a list (newest first, like Razorpay), recording every request they get."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

from sync.paging import REPORT_TIMEZONE, Chunk, CreatedWindows, Pager, ReportDays

Request = dict[str, Any]
T0 = datetime(2026, 11, 2, 6, 0, tzinfo=UTC)


def listing(
    items: list[dict[str, Any]],
) -> tuple[Callable[[Mapping[str, Any]], dict[str, Any]], list[Request]]:
    """A fake `payment.all`: filters on `from` ≤ created_at < `to` when given, newest first, skip/count."""
    requests: list[Request] = []

    def payment_all(params: Mapping[str, Any]) -> dict[str, Any]:
        requests.append(dict(params))
        chosen = [
            item for item in items if params.get("from", 0) <= item["created_at"] < params.get("to", 2**62)
        ]
        chosen.sort(key=lambda item: item["created_at"], reverse=True)
        page = chosen[params["skip"] : params["skip"] + params["count"]]
        return {"entity": "collection", "count": len(page), "items": page}

    return payment_all, requests


def payments(
    count: int, start: datetime = T0, every: timedelta = timedelta(seconds=1)
) -> list[dict[str, Any]]:
    return [{"id": f"pay_{n:05d}", "created_at": int((start + n * every).timestamp())} for n in range(count)]


def ids(items: Sequence[Mapping[str, Any]]) -> list[str]:
    return [item["id"] for item in items]


# --- the pager ------------------------------------------------------------------------------------------


def test_pages_until_a_short_page() -> None:
    call, requests = listing(payments(7))
    pages = list(Pager(call, page_size=3).pages({}))

    assert [r["skip"] for r in requests] == [0, 3, 6]
    assert all(r["count"] == 3 for r in requests)
    assert [len(p.items) for p in pages] == [3, 3, 1]
    assert [p.skip for p in pages] == [0, 3, 6]
    assert sorted(ids([i for p in pages for i in p.items])) == ids(payments(7))
    assert sum(p.requests for p in pages) == 3


def test_an_exact_multiple_of_the_page_size_costs_one_extra_empty_page() -> None:
    call, requests = listing(payments(6))
    pages = list(Pager(call, page_size=3).pages({}))

    assert [r["skip"] for r in requests] == [0, 3, 6]
    assert [len(p.items) for p in pages] == [3, 3, 0]
    assert len({i for p in pages for i in ids(p.items)}) == 6


def test_pages_expected_full_are_asked_for_at_once_then_one_at_a_time() -> None:
    call, requests = listing(payments(30))
    with ThreadPoolExecutor(max_workers=3) as pool:
        pages = list(Pager(call, page_size=3, parallel=3, executor=pool).pages({}, expected=30))

    # 85 % of 30 rows is 8 full pages: skips 3…21 are asked for without waiting (3 at a time), then
    # 24, 27 and 30 each behind the full page before it: no request past the end but the empty one.
    assert requests[0]["skip"] == 0
    assert sorted(r["skip"] for r in requests) == list(range(0, 33, 3))
    assert [p.skip for p in pages] == list(range(0, 33, 3))
    assert [len(p.items) for p in pages] == [3] * 10 + [0]
    assert sum(p.requests for p in pages) == len(requests) == 11


def test_pages_past_the_end_of_an_overestimate_are_counted_on_the_short_page() -> None:
    call, requests = listing(payments(7))
    with ThreadPoolExecutor(max_workers=3) as pool:
        pages = list(Pager(call, page_size=3, parallel=3, executor=pool).pages({}, expected=60))

    assert [p.skip for p in pages] == [0, 3, 6]
    assert len({i for p in pages for i in ids(p.items)}) == 7
    # Whatever went out past skip 6 was a request: the short page accounts for it.
    assert pages[-1].requests == len(requests) - 2
    assert sum(p.requests for p in pages) == len(requests)
    assert all(r["skip"] <= 6 + 3 * 3 for r in requests)


def test_without_an_estimate_each_page_waits_for_the_one_before() -> None:
    call, requests = listing(payments(7))
    with ThreadPoolExecutor(max_workers=3) as pool:
        pages = list(Pager(call, page_size=3, parallel=3, executor=pool).pages({}))

    assert [r["skip"] for r in requests] == [0, 3, 6]
    assert [p.requests for p in pages] == [1, 1, 1]


def test_a_first_page_already_fetched_is_not_fetched_again() -> None:
    call, requests = listing(payments(5))
    pager = Pager(call, page_size=3)
    first = pager.page({}, 0)
    pages = list(pager.pages({}, first))

    assert [r["skip"] for r in requests] == [0, 3]  # the 0 is `first`'s own request
    assert [len(p.items) for p in pages] == [3, 2]
    assert sum(p.requests for p in pages) == 2


def test_an_answer_without_items_is_an_error() -> None:
    pager = Pager(lambda params: {"error": "nope"}, page_size=3, name="payments")
    try:
        pager.page({}, 0)
    except ValueError as error:
        assert str(error) == "payments: the API answered without an items list"
    else:
        raise AssertionError("expected a ValueError")


# --- created_at windows ---------------------------------------------------------------------------------


def test_an_empty_window_is_one_request_and_one_closed_chunk() -> None:
    call, requests = listing([])
    partition = CreatedWindows(initial=timedelta(hours=6))
    chunks = list(
        partition.chunks(Pager(call, page_size=100), {"expand[]": "card"}, T0, T0 + timedelta(hours=6))
    )

    assert requests == [
        {
            "expand[]": "card",
            "from": int(T0.timestamp()),
            "to": int((T0 + timedelta(hours=6)).timestamp()),
            "count": 100,
            "skip": 0,
        }
    ]
    assert chunks == [Chunk(T0, T0 + timedelta(hours=6), [], closed=True, requests=1)]


def test_windows_cover_the_range_and_grow_while_sparse() -> None:
    call, requests = listing(payments(3, every=timedelta(hours=1)))
    partition = CreatedWindows(initial=timedelta(hours=1), target_rows=10)
    end = T0 + timedelta(hours=8)
    chunks = list(partition.chunks(Pager(call, page_size=100), {}, T0, end))

    # One row per window is well under the target: each next window is twice as long, up to the end.
    assert [(c.begin, c.end) for c in chunks] == [
        (T0, T0 + timedelta(hours=1)),
        (T0 + timedelta(hours=1), T0 + timedelta(hours=3)),
        (T0 + timedelta(hours=3), T0 + timedelta(hours=7)),
        (T0 + timedelta(hours=7), end),
    ]
    assert [ids(c.items) for c in chunks] == [["pay_00000"], ["pay_00002", "pay_00001"], [], []]
    assert all(c.closed and c.requests == 1 for c in chunks)
    assert [r["skip"] for r in requests] == [0, 0, 0, 0]


def test_a_window_denser_than_expected_shrinks_before_it_is_paged() -> None:
    # 60 payments a minute apart in the window's last hour; a page of 10 covers 10 minutes of a 6 h
    # window, so the window looks 36x too dense for a target of 5 rows.
    begin, end = T0, T0 + timedelta(hours=6)
    rows = payments(60, start=T0 + timedelta(hours=5), every=timedelta(minutes=1))
    call, requests = listing(rows)
    partition = CreatedWindows(initial=timedelta(hours=6), target_rows=5)
    chunks = list(partition.chunks(Pager(call, page_size=10), {}, begin, end))

    first, second = requests[0], requests[1]
    assert (first["from"], first["to"], first["skip"]) == (int(begin.timestamp()), int(end.timestamp()), 0)
    # The second request is a shrunk window (6 h × 5 / 360 = 5 minutes), not page 2 of the first.
    assert (second["from"], second["to"], second["skip"]) == (
        int(begin.timestamp()),
        int((begin + timedelta(minutes=5)).timestamp()),
        0,
    )
    assert not any(
        r["skip"] > 0 and r["to"] == int(end.timestamp()) and r["from"] == first["from"] for r in requests
    )
    # Every payment exactly once, in closed windows that tile the range.
    assert sorted(i for c in chunks for i in ids(c.items)) == ids(rows)
    assert chunks[0].begin == begin and chunks[-1].end == end
    assert all(a.end == b.begin for a, b in pairwise(chunks))
    assert all(c.closed for c in chunks)
    # A shrink costs a request the chunks do not count (as before the pager).
    assert sum(c.requests for c in chunks) < len(requests)


# --- report days ----------------------------------------------------------------------------------------


def report(
    lines_by_day: dict[tuple[int, int, int], int],
) -> tuple[Callable[[Mapping[str, Any]], dict[str, Any]], list[Request]]:
    """A fake `settlement.report`: each day's lines, paged with skip/count."""
    requests: list[Request] = []

    def settlement_report(params: Mapping[str, Any]) -> dict[str, Any]:
        requests.append(dict(params))
        day = (params["year"], params["month"], params["day"])
        lines = [{"entity_id": f"pay_{day[2]:02d}_{n}"} for n in range(lines_by_day.get(day, 0))]
        page = lines[params["skip"] : params["skip"] + params["count"]]
        return {"entity": "collection", "count": len(page), "items": page}

    return settlement_report, requests


def ist(year: int, month: int, day: int, hour: int = 0) -> datetime:
    return datetime(year, month, day, hour, tzinfo=REPORT_TIMEZONE).astimezone(UTC)


def test_a_report_day_in_chunks_checkpoints_only_on_its_last_chunk_once_the_day_is_over() -> None:
    call, requests = report({(2026, 11, 2): 9, (2026, 11, 3): 3})
    begin, end = ist(2026, 11, 2, 10), ist(2026, 11, 3, 12)  # the 3rd is not over yet
    chunks = list(ReportDays(target_rows=4).chunks(Pager(call, page_size=2), {}, begin, end))

    # The first pages of the days ahead go out together, then each day's pages.
    assert [(r["day"], r["skip"]) for r in requests] == [
        (2, 0), (3, 0),
        (2, 2), (2, 4), (2, 6), (2, 8),
        (3, 2),
    ]  # fmt: skip
    assert [(c.begin, c.end, len(c.items), c.closed, c.requests) for c in chunks] == [
        (ist(2026, 11, 2), ist(2026, 11, 3), 4, False, 2),
        (ist(2026, 11, 2), ist(2026, 11, 3), 4, False, 2),
        (ist(2026, 11, 2), ist(2026, 11, 3), 1, True, 1),  # the day's last chunk: the day is over
        (ist(2026, 11, 3), ist(2026, 11, 4), 3, False, 2),  # today: never checkpointed
    ]
    assert [i for c in chunks[:3] for i in ids_of(c)] == [f"pay_02_{n}" for n in range(9)]


def test_report_days_are_read_ahead_and_sized_by_the_smallest_full_day() -> None:
    call, requests = report({(2026, 11, 2): 9, (2026, 11, 3): 9, (2026, 11, 4): 1})
    with ThreadPoolExecutor(max_workers=3) as pool:
        pager = Pager(call, page_size=2, parallel=3, executor=pool)
        chunks = list(
            ReportDays(target_rows=4, ahead=3).chunks(pager, {}, ist(2026, 11, 2), ist(2026, 11, 4, 12))
        )

    # Each day's pages up to its short one, and not one page past it.
    for day in (2, 3):
        assert sorted(r["skip"] for r in requests if r["day"] == day) == [0, 2, 4, 6, 8]
    assert [r["skip"] for r in requests if r["day"] == 4] == [0]
    assert sum(c.requests for c in chunks) == len(requests) == 11
    # A chunk closes at the first page boundary holding ≥ 4 lines; only a day's last chunk is closed.
    assert [(c.begin, len(c.items), c.closed) for c in chunks] == [
        (ist(2026, 11, 2), 4, False),
        (ist(2026, 11, 2), 4, False),
        (ist(2026, 11, 2), 1, True),
        (ist(2026, 11, 3), 4, False),
        (ist(2026, 11, 3), 4, False),
        (ist(2026, 11, 3), 1, True),
        (ist(2026, 11, 4), 1, False),  # not over at the end instant
    ]


def test_a_day_without_lines_is_one_request_and_one_empty_chunk() -> None:
    call, requests = report({})
    chunks = list(ReportDays().chunks(Pager(call, page_size=1000), {}, ist(2026, 11, 2, 5), ist(2026, 11, 3)))

    assert [(r["year"], r["month"], r["day"], r["skip"], r["count"]) for r in requests] == [
        (2026, 11, 2, 0, 1000),
        (2026, 11, 3, 0, 1000),
    ]
    # The 2nd is over at the end instant; the 3rd has only just begun.
    assert [(c.begin, len(c.items), c.closed) for c in chunks] == [
        (ist(2026, 11, 2), 0, True),
        (ist(2026, 11, 3), 0, False),
    ]


def ids_of(chunk: Chunk) -> list[str]:
    return [item["entity_id"] for item in chunk.items]
