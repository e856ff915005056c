"""The sync's adaptive concurrency (AIMD): +1 per round of successes up to the ceiling, halved at once
on a 429 (one cut per burst), and told about the 429s urllib3 retries out of the caller's sight."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from sync.http import Concurrency, HttpPolicy, make_session
from tests.support.sandbox import SandboxHandle


def test_additive_increase_to_the_ceiling_and_multiplicative_decrease() -> None:
    now = [0.0]
    concurrency = Concurrency(8, initial=2, cut_every=1.0, clock=lambda: now[0])

    concurrency.succeeded()
    concurrency.succeeded()
    assert concurrency.limit == pytest.approx(
        2.9
    )  # +1/limit a success: about +1 per round trip at that limit
    concurrency.succeeded()
    assert int(concurrency.limit) == 3
    for _ in range(200):
        concurrency.succeeded()
    assert concurrency.limit == 8.0  # never above the ceiling

    concurrency.throttled()
    assert concurrency.limit == 4.0
    concurrency.throttled()  # the same burst: no second cut
    concurrency.throttled()
    assert concurrency.limit == 4.0
    now[0] += 1.0
    concurrency.throttled()
    assert concurrency.limit == 2.0
    for _ in range(3):
        now[0] += 1.0
        concurrency.throttled()
    assert concurrency.limit == 1.0  # never below one request
    assert concurrency.throttled_total == 7


def test_slots_admit_only_the_current_limit() -> None:
    concurrency = Concurrency(4, initial=2)
    with concurrency.slot(), concurrency.slot():
        assert concurrency.in_flight == 2
    assert concurrency.in_flight == 0


@pytest.mark.slow
def test_the_429s_urllib3_retries_reach_the_concurrency(
    sandbox_factory: Callable[..., SandboxHandle],
) -> None:
    limited = sandbox_factory(seed=5, days=1, payments_per_day=20, rate_limit="1/s")
    concurrency = Concurrency(8, initial=8)
    session = make_session(HttpPolicy(retries=3), concurrency)
    statuses = [
        session.get(
            f"{limited.base_url}/v1/payments?count=1", auth=(limited.key_id, limited.key_secret)
        ).status_code
        for _ in range(3)
    ]
    assert statuses == [200, 200, 200]  # each 429 was slept out (Retry-After: 1) and retried
    assert concurrency.throttled_total == limited.state()["fault_counts"]["rate_limited"] >= 1
    assert concurrency.limit < 8.0
