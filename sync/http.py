"""The razorpay SDK client the sync uses: its own requests.Session with urllib3 retries and a timeout on every call.

The SDK itself sets no timeout and never retries a 429/5xx; a urllib3 `Retry` mounted on the session
does (GET only, honouring `Retry-After`, exponential backoff with jitter). What still gets through —
a 200 whose body is not JSON, retries exhausted — is retried a few times more by `call`, and a 401
ends the run with `AuthenticationError`, whose message never contains the secret.
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

import razorpay
import requests
from razorpay.errors import BadRequestError, GatewayError, ServerError
from requests.adapters import HTTPAdapter
from urllib3 import BaseHTTPResponse
from urllib3.connectionpool import ConnectionPool
from urllib3.util import Retry

from data.settings import Settings

__all__ = [
    "AuthenticationError",
    "Concurrency",
    "HttpPolicy",
    "RazorpayUnavailable",
    "SdkClient",
    "make_client",
    "make_session",
]

log = logging.getLogger(__name__)

RETRY_STATUSES = (429, 500, 502, 503, 504)


class AuthenticationError(Exception):
    """Razorpay rejected the key id or secret (HTTP 401). Not a RequestException, so the SDK lets it through."""


class RazorpayUnavailable(Exception):
    """A call still failed after every retry: the run stops, and resumes from its checkpoint next time."""


@dataclass(frozen=True)
class HttpPolicy:
    timeout_seconds: float = 10.0
    # urllib3 retries of one request (429/5xx/connect/read timeouts).
    retries: int = 6
    backoff_factor: float = 0.25
    backoff_max: float = 20.0
    backoff_jitter: float = 0.25
    # Honour Retry-After, but never sleep a whole run away on one header.
    retry_after_max: int = 120
    # Extra attempts of a whole SDK call when what came back could not be used (non-JSON body, …).
    call_attempts: int = 4
    # The most requests in flight at once (the adaptive pace never sends more at a time).
    max_in_flight: int = 8

    @property
    def pool_size(self) -> int:
        return self.max_in_flight


class Concurrency:
    """How fast API requests go out, adapted to the rate limit the API shows (AIMD, as TCP does, on
    the rate of requests rather than a window, because the limit is a rate): at most `ceiling` in
    flight; no pace until the first 429, then a pace of request starts that the successes raise slowly
    (+`increase` requests/s per second of them) and a 429 cuts at once to `decrease` of it (at most
    once per `cut_every` seconds, so one burst of 429s is one cut). The first cut starts from the rate
    of successes over the last second. Every thread that calls shares it (the limit is per key)."""

    def __init__(
        self,
        ceiling: int,
        *,
        cut_every: float = 1.0,
        increase: float = 1.0,
        decrease: float = 0.9,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.ceiling = max(1, ceiling)
        self.cut_every = cut_every
        self.increase = increase
        self.decrease = decrease
        self.clock = clock
        self.sleep = sleep
        self.in_flight = 0
        # The integral of `in_flight` over time (request-seconds), so a run can tell its mean in flight.
        self.in_flight_seconds = 0.0
        self._in_flight_since = clock()
        self.throttled_total = 0
        # Requests per second; None until the API has shown a limit.
        self.rate: float | None = None
        self._next_start = -math.inf
        self._paced_at = -math.inf  # when the pace last held a request back
        self.last_success = -math.inf
        self._last_cut = -math.inf
        self._recent: deque[float] = deque()  # when the successes of the last second came back
        self._changed = threading.Condition()

    @contextmanager
    def slot(self) -> Iterator[None]:
        with self._changed:
            while self.in_flight >= self.ceiling:
                self._changed.wait()
            now = self.clock()
            self._count_in_flight(now)
            self.in_flight += 1
            start = now
            if self.rate is not None:
                # Idle time banks no burst: the next start is one interval after this one.
                start = max(now, self._next_start)
                self._next_start = start + 1.0 / self.rate
                if start > now:
                    self._paced_at = now
        try:
            if start > now:
                self.sleep(start - now)
            yield
        finally:
            with self._changed:
                self._count_in_flight(self.clock())
                self.in_flight -= 1
                self._changed.notify_all()

    def _count_in_flight(self, now: float) -> None:
        self.in_flight_seconds += self.in_flight * (now - self._in_flight_since)
        self._in_flight_since = now

    def succeeded(self) -> None:
        with self._changed:
            now = self.clock()
            self._recent.append(now)
            while self._recent and self._recent[0] < now - 1.0:
                self._recent.popleft()
            self.last_success = now
            if self.rate is not None and now - self._paced_at <= 1.0:
                # A second's worth of successes (`rate` of them) raises the rate by `increase` — while
                # the pace is what holds requests back (a rate nobody reaches proves nothing).
                self.rate += self.increase / self.rate

    def throttled(self) -> None:
        with self._changed:
            self.throttled_total += 1
            now = self.clock()
            if now - self._last_cut < self.cut_every:
                return
            self._last_cut = now
            if self.rate is None:
                while self._recent and self._recent[0] < now - 1.0:
                    self._recent.popleft()
                self.rate = float(max(1, len(self._recent)))
            self.rate = max(0.1, self.rate * self.decrease)


class _ReportingRetry(Retry):
    """urllib3's Retry, telling the concurrency about every 429 it retries (the caller never sees
    those responses: urllib3 sleeps out the Retry-After and asks again)."""

    concurrency: Concurrency | None = None

    def new(self, **kw: Any) -> Self:
        retry = super().new(**kw)
        retry.concurrency = self.concurrency
        return retry

    def increment(
        self,
        method: str | None = None,
        url: str | None = None,
        response: BaseHTTPResponse | None = None,
        error: Exception | None = None,
        _pool: ConnectionPool | None = None,
        _stacktrace: TracebackType | None = None,
    ) -> Self:
        if response is not None and response.status == 429 and self.concurrency is not None:
            self.concurrency.throttled()
        return super().increment(method, url, response, error, _pool, _stacktrace)


def make_session(
    policy: HttpPolicy = HttpPolicy(), concurrency: Concurrency | None = None
) -> requests.Session:
    retry = _ReportingRetry(
        total=policy.retries,
        connect=policy.retries,
        read=policy.retries,
        status=policy.retries,
        other=0,
        allowed_methods=frozenset({"GET"}),
        status_forcelist=RETRY_STATUSES,
        backoff_factor=policy.backoff_factor,
        backoff_max=policy.backoff_max,
        backoff_jitter=policy.backoff_jitter,
        respect_retry_after_header=True,
        retry_after_max=policy.retry_after_max,
        # After the last retry hand the response to the SDK, which raises a typed error we handle.
        raise_on_status=False,
    )
    retry.concurrency = concurrency
    adapter = HTTPAdapter(max_retries=retry, pool_connections=policy.pool_size, pool_maxsize=policy.pool_size)
    session = requests.Session()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.hooks["response"].append(_reject_unauthorised)
    return session


def _reject_unauthorised(response: requests.Response, *args: Any, **kwargs: Any) -> requests.Response:
    # The SDK maps errors from the body only and loses the status; a 401 must stop the run at once.
    if response.status_code == 401:
        raise AuthenticationError(
            "Razorpay rejected the key id or key secret (HTTP 401) — check RAZORPAY_KEY_ID and "
            "RAZORPAY_KEY_SECRET for this RAZORPAY_BASE_URL"
        )
    return response


class SdkClient:
    """A `razorpay.Client` plus the call discipline: a timeout on every call and bounded re-attempts."""

    def __init__(
        self, client: razorpay.Client, policy: HttpPolicy, concurrency: Concurrency | None = None
    ) -> None:
        self.razorpay = client
        self.policy = policy
        # Shared by every thread that calls (pages of a window, entities side by side).
        self.concurrency = concurrency or Concurrency(policy.max_in_flight)

    def call(self, method: Callable[..., Any], params: Mapping[str, Any]) -> dict[str, Any]:
        """Call one SDK list/report method with `params`; returns the decoded JSON object."""
        last_error: Exception | None = None
        for attempt in range(self.policy.call_attempts):
            try:
                with self.concurrency.slot():
                    body = method(dict(params), timeout=self.policy.timeout_seconds)
            except AuthenticationError:
                raise
            except BadRequestError as error:
                # A 400 is our request's fault (or the key's, when the API says so): retrying won't help.
                raise RazorpayUnavailable(f"Razorpay refused the request: {error}") from error
            except (
                requests.exceptions.JSONDecodeError,  # an HTML error page, a truncated body
                requests.exceptions.RequestException,  # connection/read retries exhausted
                ServerError,
                GatewayError,
            ) as error:
                last_error = error
                delay = min(self.policy.backoff_max, self.policy.backoff_factor * 2**attempt)
                delay *= 1 + random.uniform(0, self.policy.backoff_jitter)
                log.warning("Razorpay call failed (%s); retrying in %.1fs", type(error).__name__, delay)
                time.sleep(delay)
                continue
            if not isinstance(body, dict):
                last_error = ValueError(f"expected a JSON object, got {type(body).__name__}")
                continue
            self.concurrency.succeeded()
            return body
        raise RazorpayUnavailable(
            f"Razorpay still failing after {self.policy.call_attempts} attempts: "
            f"{type(last_error).__name__}: {_short(last_error)}"
        )


def _short(error: Exception | None) -> str:
    text = str(error) if error is not None else ""
    return text[:200]


def make_client(settings: Settings, policy: HttpPolicy | None = None) -> SdkClient:
    policy = policy or HttpPolicy(
        timeout_seconds=settings.http_timeout_seconds, max_in_flight=settings.sync_max_in_flight
    )
    concurrency = Concurrency(policy.max_in_flight)
    client = razorpay.Client(
        session=make_session(policy, concurrency),
        auth=(settings.razorpay_key_id, settings.razorpay_key_secret.get_secret_value()),
        base_url=settings.razorpay_base_url,
    )
    client.set_app_details({"title": "payops-sync", "version": "0.1"})
    return SdkClient(client, policy, concurrency)
