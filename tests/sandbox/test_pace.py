"""The sandbox's pace: one rate limit for the key across every /v1 endpoint (429 + Retry-After beyond
it) and a latency per request; the sync gets through a rate-limited sandbox with exact parity."""

from __future__ import annotations

import base64
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import Engine

from sandbox.server import RateLimiter
from tests.support.sandbox import SandboxHandle
from tests.support.sync_helpers import assert_parity, sandbox_until, sync_once


def test_the_bucket_admits_one_seconds_worth_then_names_the_wait() -> None:
    now = [100.0]
    limiter = RateLimiter(4.0, clock=lambda: now[0])

    assert [limiter.admit() for _ in range(5)] == [None, None, None, None, 1]
    now[0] += 0.25  # one token back
    assert [limiter.admit(), limiter.admit()] == [None, 1]
    now[0] += 10.0  # never more than one second's worth saved up
    assert [limiter.admit() for _ in range(5)] == [None, None, None, None, 1]


def test_the_slowest_rate_asks_for_the_whole_wait() -> None:
    now = [0.0]
    limiter = RateLimiter(0.5, clock=lambda: now[0])
    assert [limiter.admit(), limiter.admit()] == [None, 2]  # a request every 2 s
    now[0] += 1.0
    assert limiter.admit() == 1
    now[0] += 1.0
    assert limiter.admit() is None


def _get(sandbox: SandboxHandle, path: str) -> tuple[int, str | None]:
    request = urllib.request.Request(sandbox.base_url + path)  # noqa: S310 - local http
    token = base64.b64encode(f"{sandbox.key_id}:{sandbox.key_secret}".encode()).decode()
    request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
            return int(response.status), None
    except urllib.error.HTTPError as error:
        return int(error.code), error.headers.get("Retry-After")


def test_one_limit_across_endpoints_answers_429_with_retry_after(
    sandbox_factory: Callable[..., SandboxHandle],
) -> None:
    limited = sandbox_factory(seed=5, days=2, payments_per_day=50, rate_limit="3/s", latency_ms=20)
    paths = ["/v1/payments?count=1", "/v1/orders?count=1", "/v1/refunds?count=1"] * 4
    with ThreadPoolExecutor(max_workers=12) as pool:
        answers = list(pool.map(lambda path: _get(limited, path), paths))

    statuses = [status for status, _ in answers]
    # 12 requests at once against 3 a second: at most a second's worth (plus what refilled) got through
    assert 3 <= statuses.count(200) < 12
    assert set(statuses) == {200, 429}
    assert {retry_after for status, retry_after in answers if status == 429} == {"1"}
    counts = limited.state()["fault_counts"]
    assert counts["rate_limited"] == statuses.count(429)


@pytest.mark.slow
def test_the_sync_gets_through_a_rate_limit_with_exact_parity(
    sandbox_factory: Callable[..., SandboxHandle], database_url: str, engine: Engine
) -> None:
    limited = sandbox_factory(seed=5, days=3, payments_per_day=300, rate_limit="8/s", latency_ms=30)

    sync_once(engine, limited, database_url, since=sandbox_until(limited) - timedelta(days=4))

    counts = assert_parity(engine, limited)
    assert counts["payments"] > 0
    assert limited.state()["fault_counts"]["rate_limited"] > 0  # the limit was met, and retried past
