"""The sync's adaptive pace (AIMD on the request rate): unpaced until the first 429, then cut at once
from the rate of recent successes (one cut per burst), raised slowly by successes; never more than the
ceiling in flight; and told about the 429s urllib3 retries out of the caller's sight."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from sync.http import Concurrency, HttpPolicy, make_session
from tests.support.sandbox import SandboxHandle


def test_the_first_429_paces_at_the_recent_rate_and_successes_raise_it_slowly() -> None:
    now = [0.0]
    concurrency = Concurrency(
        8, cut_every=1.0, decrease=0.9, increase=1.0, clock=lambda: now[0], sleep=lambda _: None
    )
    assert concurrency.rate is None  # no limit seen: only the ceiling holds
    for _ in range(20):  # 20 successes in the last second
        now[0] += 0.05
        concurrency.succeeded()
    assert concurrency.rate is None

    concurrency.throttled()
    assert concurrency.rate == pytest.approx(18.0)  # 0.9 × the 20/s that got through
    concurrency.throttled()  # the same burst: no second cut
    assert concurrency.rate == pytest.approx(18.0)
    for _ in range(18):  # nothing was held back by the pace: no rise
        concurrency.succeeded()
    assert concurrency.rate == pytest.approx(18.0)
    with concurrency.slot(), concurrency.slot():  # the second start waits for the pace
        pass
    for _ in range(18):  # a second's worth of successes at 18/s, paced: +1 request/s
        concurrency.succeeded()
    assert concurrency.rate == pytest.approx(19.0, abs=0.05)
    now[0] += 1.5
    concurrency.throttled()
    assert concurrency.rate == pytest.approx(0.9 * 19.0, abs=0.05)
    for _ in range(60):
        now[0] += 1.0
        concurrency.throttled()
    assert concurrency.rate == pytest.approx(0.1)  # never stops altogether
    assert concurrency.throttled_total == 63


def test_slots_hold_the_ceiling_and_space_starts_at_the_pace() -> None:
    now = [0.0]
    slept: list[float] = []
    concurrency = Concurrency(2, clock=lambda: now[0], sleep=slept.append)
    with concurrency.slot(), concurrency.slot():
        assert concurrency.in_flight == 2
    assert concurrency.in_flight == 0 and slept == []  # unpaced

    concurrency.rate = 4.0
    for _ in range(3):
        with concurrency.slot():
            pass
    # Starts 0.25 s apart: the first at once, the next two wait their turn.
    assert slept == [pytest.approx(0.25), pytest.approx(0.5)]
    now[0] += 10.0  # idle time banks no burst
    slept.clear()
    with concurrency.slot(), concurrency.slot():
        pass
    assert slept == [pytest.approx(0.25)]


@pytest.mark.slow
def test_the_429s_urllib3_retries_reach_the_concurrency(
    sandbox_factory: Callable[..., SandboxHandle],
) -> None:
    limited = sandbox_factory(seed=5, days=1, payments_per_day=20, rate_limit="1/s")
    concurrency = Concurrency(8)
    session = make_session(HttpPolicy(retries=3), concurrency)
    statuses = [
        session.get(
            f"{limited.base_url}/v1/payments?count=1", auth=(limited.key_id, limited.key_secret)
        ).status_code
        for _ in range(3)
    ]
    assert statuses == [200, 200, 200]  # each 429 was slept out (Retry-After: 1) and retried
    assert concurrency.throttled_total == limited.state()["fault_counts"]["rate_limited"] >= 1
    assert concurrency.rate is not None  # the 429 set a pace
