"""The razorpay SDK client the sync uses: its own requests.Session with urllib3 retries and a timeout on every call.

The SDK itself sets no timeout and never retries a 429/5xx; a urllib3 `Retry` mounted on the session
does (GET only, honouring `Retry-After`, exponential backoff with jitter). What still gets through —
a 200 whose body is not JSON, retries exhausted — is retried a few times more by `call`, and a 401
ends the run with `AuthenticationError`, whose message never contains the secret.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import razorpay
import requests
from razorpay.errors import BadRequestError, GatewayError, ServerError
from requests.adapters import HTTPAdapter
from urllib3.util import Retry

from data.settings import Settings

__all__ = [
    "AuthenticationError",
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
    pool_size: int = 8


def make_session(policy: HttpPolicy = HttpPolicy()) -> requests.Session:
    retry = Retry(
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

    def __init__(self, client: razorpay.Client, policy: HttpPolicy) -> None:
        self.razorpay = client
        self.policy = policy

    def call(self, method: Callable[..., Any], params: Mapping[str, Any]) -> dict[str, Any]:
        """Call one SDK list/report method with `params`; returns the decoded JSON object."""
        last_error: Exception | None = None
        for attempt in range(self.policy.call_attempts):
            try:
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
            return body
        raise RazorpayUnavailable(
            f"Razorpay still failing after {self.policy.call_attempts} attempts: "
            f"{type(last_error).__name__}: {_short(last_error)}"
        )


def _short(error: Exception | None) -> str:
    text = str(error) if error is not None else ""
    return text[:200]


def make_client(settings: Settings, policy: HttpPolicy | None = None) -> SdkClient:
    policy = policy or HttpPolicy(timeout_seconds=settings.http_timeout_seconds)
    client = razorpay.Client(
        session=make_session(policy),
        auth=(settings.razorpay_key_id, settings.razorpay_key_secret.get_secret_value()),
        base_url=settings.razorpay_base_url,
    )
    client.set_app_details({"title": "payops-sync", "version": "0.1"})
    return SdkClient(client, policy)
