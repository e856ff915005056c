"""The sandbox's HTTP API: Razorpay's /v1 read endpoints plus the /_sandbox admin endpoints.

A threaded stdlib server: it lets a fault drop a connection outright, and keeps the hot path (bisect
a window, render a page, orjson) free of framework overhead. Faults apply to /v1 routes only.
"""

from __future__ import annotations

import base64
import hmac
import math
import random
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np
import orjson

from sandbox import disputes, events, render, statements
from sandbox.generator import IST_OFFSET, Dataset, adjustment_ids
from sandbox.tables import IntArray

MIN_TIMESTAMP = 946_684_800
MAX_TIMESTAMP = 4_765_046_400
LIST_MAX_COUNT = 100
RECON_MAX_COUNT = 1000
DEFAULT_COUNT = 10
# About 1 KiB each: a repeated sync of up to a million payments is served from memory.
PAYMENT_CACHE_ENTRIES = 1_000_000


@dataclass
class Faults:
    """Share of /v1 requests that fail each way (independent draws, checked in this order)."""

    fault_drop: float = 0.0
    fault_5xx: float = 0.0
    fault_nonjson: float = 0.0
    fault_429: float = 0.0
    fault_slow: float = 0.0
    slow_seconds: float = 2.0


@dataclass(frozen=True)
class Pace:
    """How the sandbox paces /v1 like the real API: a latency per request (uniform within ±jitter of
    it) and one rate limit for the key, shared by every endpoint (0 = none)."""

    latency_ms: float = 0.0
    latency_jitter: float = 0.2
    rate_limit: float = 0.0


class RateLimiter:
    """A token bucket holding one second's worth of requests: a request beyond it is told, by
    `admit`, how many whole seconds to wait (its Retry-After)."""

    def __init__(self, per_second: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_second = per_second
        # At least one whole request, or a limit under 1/s would never admit any.
        self.capacity = max(1.0, per_second)
        self.clock = clock
        self.tokens = self.capacity
        self.stamp = clock()
        self.lock = threading.Lock()

    def admit(self) -> int | None:
        """None when the request may go ahead, else the Retry-After in seconds (≥ 1)."""
        with self.lock:
            now = self.clock()
            self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.per_second)
            self.stamp = now
            if self.tokens >= 1.0:
                self.tokens -= 1.0
                return None
            return max(1, math.ceil((1.0 - self.tokens) / self.per_second))


class ApiError(Exception):
    def __init__(
        self, status: int, description: str, *, code: str = "BAD_REQUEST_ERROR", field: str | None = None
    ):
        super().__init__(description)
        self.status = status
        self.body: dict[str, Any] = {
            "error": {
                "code": code,
                "description": description,
                "source": "business" if status == 400 else "NA",
                "step": "payment_initiation" if status == 400 else "NA",
                "reason": "input_validation_failed" if status == 400 else "NA",
                "metadata": {},
                "field": field,
            }
        }


def _int_param(
    params: dict[str, list[str]], name: str, default: int | None, low: int, high: int
) -> int | None:
    values = params.get(name)
    if not values:
        return default
    try:
        value = int(values[-1])
    except ValueError:
        raise ApiError(400, f"The {name} must be an integer.", field=name) from None
    if value < low:
        raise ApiError(400, f"The {name} must be at least {low}.", field=name)
    if value > high:
        raise ApiError(400, f"The {name} may not be greater than {high}.", field=name)
    return value


class SandboxApi:
    """Routing and rendering, independent of the HTTP server (thread-safe through one lock)."""

    def __init__(
        self,
        dataset: Dataset,
        key_id: str,
        key_secret: str,
        faults: Faults | None = None,
        pace: Pace | None = None,
    ):
        self.dataset = dataset
        self.faults = faults or Faults()
        self.pace = pace or Pace()
        self.rate_limiter = RateLimiter(self.pace.rate_limit) if self.pace.rate_limit > 0 else None
        self.pace_random = random.Random()
        self.lock = threading.RLock()
        self._expected_auth = "Basic " + base64.b64encode(f"{key_id}:{key_secret}".encode()).decode()
        self._id_index: dict[str, tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]] = {}
        self._recon_cache: dict[tuple[int, int, int | None, int], IntArray] = {}
        # Encoded payments by (index, with card) at the current clock; cleared when the clock moves.
        self._payment_cache: dict[tuple[int, bool], bytes] = {}
        self.fault_random = random.Random()
        # How many /v1 requests got each fault (and in total), for tests and benchmarks.
        self.fault_counts: Counter[str] = Counter()

    # --- auth --------------------------------------------------------------------------------
    def check_auth(self, header: str | None) -> None:
        if not header:
            raise ApiError(401, "Please provide your api key for authentication purposes.")
        if not hmac.compare_digest(header.encode(), self._expected_auth.encode()):
            raise ApiError(401, "The api key provided is invalid")

    # --- helpers -----------------------------------------------------------------------------
    def _window(
        self, created: IntArray, params: dict[str, list[str]], max_count: int = LIST_MAX_COUNT
    ) -> list[int]:
        """Indices of a page, newest first: (created_at desc, id desc) within [from, to]."""
        start = _int_param(params, "from", None, MIN_TIMESTAMP, MAX_TIMESTAMP)
        end = _int_param(params, "to", None, MIN_TIMESTAMP, MAX_TIMESTAMP)
        count = _int_param(params, "count", DEFAULT_COUNT, 1, max_count)
        skip = _int_param(params, "skip", 0, 0, 10**9)
        assert count is not None and skip is not None
        if start is not None and end is not None and start > end:
            raise ApiError(400, "The from must be less than or equal to to.", field="from")
        upper = min(self.dataset.now, end) if end is not None else self.dataset.now
        lo = int(np.searchsorted(created, start, side="left")) if start is not None else 0
        hi = int(np.searchsorted(created, upper, side="right"))
        first = hi - 1 - skip
        last = max(lo, hi - skip - count)
        return list(range(first, last - 1, -1)) if first >= last else []

    def _lookup(self, name: str, ids: np.ndarray[Any, Any], prefix: str, entity_id: str) -> int:
        if not entity_id.startswith(prefix):
            raise ApiError(400, "The id provided does not exist", field="id")
        cached = self._id_index.get(name)
        if cached is None or cached[0] is not ids:
            cached = (ids, np.argsort(ids, kind="stable"))
            self._id_index[name] = cached
        order = cached[1]
        raw = entity_id[len(prefix) :].encode()
        position = int(np.searchsorted(ids, raw, sorter=order))
        if position < len(order) and ids[order[position]] == raw:
            return int(order[position])
        raise ApiError(404, "The id provided does not exist", field="id")

    @staticmethod
    def _collection(items: list[dict[str, Any]]) -> bytes:
        return orjson.dumps({"entity": "collection", "count": len(items), "items": items})

    def _payment_page(self, window: list[int], card: bool) -> bytes:
        """A payments page from per-payment encoded JSON, rendered once per clock position."""
        cache = self._payment_cache
        missing = [i for i in window if (i, card) not in cache]
        if missing:
            rendered = render.payments(self.dataset, missing, self.dataset.now, card=card)
            encoded = {(i, card): orjson.dumps(item) for i, item in zip(missing, rendered, strict=True)}
            if len(cache) + len(encoded) <= PAYMENT_CACHE_ENTRIES:
                cache.update(encoded)
            items = [cache.get((i, card)) or encoded[(i, card)] for i in window]
        else:
            items = [cache[(i, card)] for i in window]
        return b'{"entity":"collection","count":%d,"items":[%b]}' % (len(items), b",".join(items))

    # --- /v1 ---------------------------------------------------------------------------------
    def v1(self, path: str, params: dict[str, list[str]]) -> bytes:
        ds = self.dataset
        now = ds.now
        parts = path.strip("/").split("/")[1:]
        if parts == ["payments"]:
            card = "card" in params.get("expand[]", []) or "card" in params.get("expand", [])
            return self._payment_page(self._window(ds.payments.created, params), card)
        if parts[:2] == ["payments", "downtimes"]:
            return self._downtimes(parts[2:])
        if parts == ["disputes"]:
            return self._collection(
                [disputes.render(ds, k, now) for k in self._window(ds.disputes.created, params)]
            )
        if len(parts) == 2 and parts[0] == "disputes":
            k = self._lookup("disputes", ds.disputes.id, "disp_", parts[1])
            self._require_visible(int(ds.disputes.created[k]))
            return orjson.dumps(disputes.render(ds, k, now))
        if len(parts) == 2 and parts[0] == "payments":
            i = self._lookup("payments", ds.payments.id, "pay_", parts[1])
            self._require_visible(int(ds.payments.created[i]))
            return orjson.dumps(render.payment(ds, i, now, card=True))
        if parts == ["orders"]:
            return self._collection(
                [render.order(ds, k, now) for k in self._window(ds.orders.created, params)]
            )
        if len(parts) >= 2 and parts[0] == "orders":
            k = self._lookup("orders", ds.orders.id, "order_", parts[1])
            self._require_visible(int(ds.orders.created[k]))
            if len(parts) == 2:
                return orjson.dumps(render.order(ds, k, now))
            if len(parts) == 3 and parts[2] == "payments":
                members = [
                    int(i) for i in ds.payments_of_order(k).tolist() if int(ds.payments.created[i]) <= now
                ]
                members.sort(key=lambda i: (int(ds.payments.created[i]), ds.payments.id[i]), reverse=True)
                return self._collection([render.payment(ds, i, now, card=True) for i in members])
        if parts == ["refunds"]:
            return self._collection(
                [render.refund(ds, j, now) for j in self._window(ds.refunds.created, params)]
            )
        if len(parts) == 2 and parts[0] == "refunds":
            j = self._lookup("refunds", ds.refunds.id, "rfnd_", parts[1])
            self._require_visible(int(ds.refunds.created[j]))
            return orjson.dumps(render.refund(ds, j, now))
        if parts == ["settlements"]:
            return self._collection(
                [render.settlement(ds, k) for k in self._window(ds.settlements.created, params)]
            )
        if parts == ["settlements", "recon", "combined"]:
            return self._recon(params)
        if len(parts) == 2 and parts[0] == "settlements":
            k = self._lookup("settlements", ds.settlements.id, "setl_", parts[1])
            self._require_visible(int(ds.settlements.created[k]))
            return orjson.dumps(render.settlement(ds, k))
        raise ApiError(404, "The requested URL was not found on the server.")

    def _downtimes(self, rest: list[str]) -> bytes:
        """Razorpay's downtimes API takes no filters or paging: the whole list, newest first (or one)."""
        ds = self.dataset
        visible = [d for d in ds.downtimes if d.created <= ds.now]
        if not rest:
            return self._collection([d.render(ds.now) for d in reversed(visible)])
        for downtime in visible:
            if len(rest) == 1 and downtime.id == rest[0]:
                return orjson.dumps(downtime.render(ds.now))
        raise ApiError(404, "The id provided does not exist", field="id")

    def _require_visible(self, created: int) -> None:
        if created > self.dataset.now:
            raise ApiError(404, "The id provided does not exist", field="id")

    def recon_lines(self, year: int, month: int, day: int | None) -> IntArray:
        """Line indices of settlements made on that IST day (or month), newest first."""
        ds = self.dataset
        key = (year, month, day, ds.now)
        cached = self._recon_cache.get(key)
        if cached is not None:
            return cached
        visible = ds.visible_count(ds.settlements.created)
        created = ds.settlements.created[:visible]
        dates = (created + IST_OFFSET).astype("datetime64[s]").astype("datetime64[D]")
        start = np.datetime64(f"{year:04d}-{month:02d}-{day or 1:02d}")
        end = (
            start + np.timedelta64(1, "D")
            if day
            else (np.datetime64(f"{year:04d}-{month:02d}") + np.timedelta64(1, "M")).astype("datetime64[D]")
        )
        chosen = np.flatnonzero((dates >= start) & (dates < end))
        if len(chosen):
            index = np.concatenate(
                [np.arange(ds.settlements.line_start[k], ds.settlements.line_end[k]) for k in chosen.tolist()]
            )
        else:
            index = np.zeros(0, dtype=np.int64)
        lines = ds.lines
        kinds, refs = lines.kind[index], lines.ref[index]
        raw = np.empty(len(index), dtype="S14")
        is_payment, is_refund = kinds == 0, kinds == 1
        raw[is_payment] = ds.payments.id[refs[is_payment]]
        raw[is_refund] = ds.refunds.id[refs[is_refund]]
        is_adjustment = kinds == 2
        if is_adjustment.any():
            raw[is_adjustment] = adjustment_ids(ds.disputes)[refs[is_adjustment]]
        order = np.lexsort((raw, lines.kind[index], lines.created[index]))[::-1]
        result = index[order].astype(np.int64)
        if len(self._recon_cache) > 64:
            self._recon_cache.clear()
        self._recon_cache[key] = result
        return result

    def _recon(self, params: dict[str, list[str]]) -> bytes:
        year = _int_param(params, "year", None, 2000, 2100)
        month = _int_param(params, "month", None, 1, 12)
        day = _int_param(params, "day", None, 1, 31)
        if year is None:
            raise ApiError(400, "The year field is required.", field="year")
        if month is None:
            raise ApiError(400, "The month field is required.", field="month")
        count = _int_param(params, "count", DEFAULT_COUNT, 1, RECON_MAX_COUNT)
        skip = _int_param(params, "skip", 0, 0, 10**9)
        assert count is not None and skip is not None
        try:
            lines = self.recon_lines(year, month, day)
        except ValueError:
            raise ApiError(400, "The day is not a valid date.", field="day") from None
        page = lines[skip : skip + count].tolist()
        return self._collection([render.settlement_line(self.dataset, n) for n in page])

    # --- /_sandbox ---------------------------------------------------------------------------
    def admin(self, method: str, path: str, params: dict[str, list[str]], body: bytes) -> tuple[bytes, str]:
        ds = self.dataset
        parts = path.strip("/").split("/")[1:]
        if method == "GET" and parts == ["state"]:
            state = {
                "now": ds.now,
                "counts": ds.counts(),
                "seed": ds.config.seed,
                "faults": asdict(self.faults),
                "fault_counts": dict(self.fault_counts),
            }
            return orjson.dumps(state), "application/json"
        if method == "GET" and parts == ["manifest"]:
            manifest = ds.manifest() | {"bank_statement": statements.plan_statement(ds).manifest()}
            return orjson.dumps(manifest), "application/json"
        if method == "GET" and parts == ["statement"]:
            fmt = (params.get("format") or ["csv"])[0]
            if fmt not in statements.FORMATS:
                raise ApiError(400, f"format must be one of {', '.join(statements.FORMATS)}", field="format")
            body = statements.render_statement(statements.plan_statement(ds), fmt)
            return body, "application/xml" if fmt == "camt053" else "text/plain"
        if method == "GET" and len(parts) == 2 and parts[0] == "truth":
            return self.truth(parts[1]), "application/x-ndjson"
        if method == "POST" and parts == ["advance"]:
            minutes = _int_param(params, "minutes", None, 0, 60 * 24 * 366)
            if minutes is None:
                raise ApiError(400, "The minutes field is required.", field="minutes")
            result = ds.advance(minutes)
            self._recon_cache.clear()
            self._payment_cache.clear()
            return orjson.dumps(result), "application/json"
        if method == "POST" and parts == ["faults"]:
            try:
                rates = orjson.loads(body or b"{}")
                self.faults = replace_faults(rates)
            except (orjson.JSONDecodeError, TypeError, ValueError) as error:
                raise ApiError(400, f"bad fault rates: {error}") from None
            return orjson.dumps(asdict(self.faults)), "application/json"
        if method == "GET" and parts == ["faults"]:
            return orjson.dumps(asdict(self.faults)), "application/json"
        if method == "GET" and parts == ["webhook-deliveries"]:
            since = _int_param(params, "since", ds.now - 3 * 86_400, 0, MAX_TIMESTAMP)
            limit = _int_param(params, "limit", 1_000_000, 1, 100_000_000)
            assert since is not None and limit is not None
            deliveries = events.planned_deliveries(ds, since, limit)
            return b"".join(orjson.dumps(d) + b"\n" for d in deliveries), "application/x-ndjson"
        raise ApiError(404, "The requested URL was not found on the server.")

    def truth(self, entity: str) -> bytes:
        """Every current object of an entity as NDJSON, in list order (newest first)."""
        ds = self.dataset
        now = ds.now
        if entity == "payments":
            newest_first = list(range(ds.visible_count(ds.payments.created) - 1, -1, -1))
            pages = (newest_first[n : n + 1000] for n in range(0, len(newest_first), 1000))
            return b"".join(
                orjson.dumps(item) + b"\n"
                for page in pages
                for item in render.payments(ds, page, now, card=True)
            )
        if entity == "settlement_lines":
            # Settlements are ordered by (created, id) and their lines are contiguous in that order.
            visible = ds.visible_count(ds.settlements.created)
            end = int(ds.settlements.line_end[visible - 1]) if visible else 0
            return b"".join(orjson.dumps(render.settlement_line(ds, n)) + b"\n" for n in range(end))
        renderers: dict[str, tuple[IntArray, Callable[[int], dict[str, Any]]]] = {
            "orders": (ds.orders.created, lambda k: render.order(ds, k, now)),
            "refunds": (ds.refunds.created, lambda j: render.refund(ds, j, now)),
            "settlements": (ds.settlements.created, lambda k: render.settlement(ds, k)),
            "disputes": (ds.disputes.created, lambda k: disputes.render(ds, k, now)),
        }
        if entity == "downtimes":
            announced = [d for d in ds.downtimes if d.created <= now]
            return b"".join(orjson.dumps(d.render(now)) + b"\n" for d in reversed(announced))
        if entity not in renderers:
            raise ApiError(404, f"unknown entity {entity!r}")
        created, build = renderers[entity]
        visible = ds.visible_count(created)
        return b"".join(orjson.dumps(build(i)) + b"\n" for i in range(visible - 1, -1, -1))


def replace_faults(rates: dict[str, Any]) -> Faults:
    known = set(Faults.__dataclass_fields__)
    unknown = set(rates) - known
    if unknown:
        raise ValueError(f"unknown fault {sorted(unknown)[0]!r}")
    faults = Faults(**{name: float(value) for name, value in rates.items()})
    for name, value in asdict(faults).items():
        if name != "slow_seconds" and not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} must be between 0 and 1")
    return faults


_HTML_502 = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n"
    b"<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "razorpay-sandbox"
    sys_version = ""
    api: SandboxApi  # set on the subclass made by make_server

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        return  # request logs would drown the test output; failures surface as HTTP errors

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def _send(
        self,
        status: int,
        body: bytes,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        # Headers and body in one write: two small writes meet Nagle + delayed ACK (40 ms a request).
        self._headers_buffer.append(b"\r\n" + body)  # type: ignore[attr-defined]
        self.flush_headers()

    def _handle(self, method: str) -> None:
        split = urlsplit(self.path)
        path = split.path
        params = parse_qs(split.query)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        api = self.api
        try:
            api.check_auth(self.headers.get("Authorization"))
            if path.startswith("/v1/"):
                if method != "GET":
                    raise ApiError(404, "The requested URL was not found on the server.")
                if self._pace() or self._inject_fault():
                    return
                with api.lock:
                    payload = api.v1(path, params)
                self._send(200, payload)
            elif path.startswith("/_sandbox/"):
                with api.lock:
                    payload, content_type = api.admin(method, path, params, body)
                self._send(200, payload, content_type)
            else:
                raise ApiError(404, "The requested URL was not found on the server.")
        except ApiError as error:
            self._send(error.status, orjson.dumps(error.body))

    def _pace(self) -> bool:
        """The rate limit (a 429 with Retry-After, as Razorpay answers), then the latency; True when
        the request has been answered."""
        api = self.api
        if api.rate_limiter is not None:
            retry_after = api.rate_limiter.admit()
            if retry_after is not None:
                self._count("rate_limited")
                error = ApiError(429, "Too many requests", code="BAD_REQUEST_ERROR")
                self._send(429, orjson.dumps(error.body), headers={"Retry-After": str(retry_after)})
                return True
        if api.pace.latency_ms > 0:
            jitter = api.pace.latency_jitter
            time.sleep(api.pace.latency_ms / 1000 * api.pace_random.uniform(1 - jitter, 1 + jitter))
        return False

    def _inject_fault(self) -> bool:
        """Apply the configured faults; True when the response has been dealt with."""
        faults = self.api.faults
        draw = self.api.fault_random.random
        counts = self.api.fault_counts
        with self.api.lock:
            counts["requests"] += 1
        if faults.fault_drop and draw() < faults.fault_drop:
            self._count("drop")
            self.close_connection = True
            return True
        if faults.fault_5xx and draw() < faults.fault_5xx:
            self._count("5xx")
            status = self.api.fault_random.choice([500, 502, 503, 504])
            error = ApiError(
                status,
                "The server encountered an error. The incident has been reported to admins.",
                code="SERVER_ERROR",
            )
            self._send(status, orjson.dumps(error.body))
            return True
        if faults.fault_nonjson and draw() < faults.fault_nonjson:
            self._count("nonjson")
            self._send(502, _HTML_502, "text/html")
            return True
        if faults.fault_429 and draw() < faults.fault_429:
            self._count("429")
            error = ApiError(429, "Too many requests", code="BAD_REQUEST_ERROR")
            self._send(429, orjson.dumps(error.body), headers={"Retry-After": "1"})
            return True
        if faults.fault_slow and draw() < faults.fault_slow:
            self._count("slow")
            time.sleep(faults.slow_seconds)
        return False

    def _count(self, fault: str) -> None:
        with self.api.lock:
            self.api.fault_counts[fault] += 1


class SandboxServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


def make_server(api: SandboxApi, host: str, port: int) -> SandboxServer:
    handler = type("BoundHandler", (Handler,), {"api": api})
    return SandboxServer((host, port), handler)
