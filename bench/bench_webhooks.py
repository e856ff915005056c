"""Webhook receiver under load (loopback only, bounded in time): sustained events/s into SQLite and
PostgreSQL with 10% duplicates and 5% bad signatures, and a SIGKILL + restart mid-load.

    .venv/bin/python -m bench.bench_webhooks --seconds 30 --rate 1000
    .venv/bin/python -m bench.bench_webhooks --backends postgresql --replicas 2   # the pair

The receiver runs as `python -m sync.webhooks serve` in its own process (--replicas N: N of them on one
database, each on its own port, the connections spread over them); this process is the load
generator: pre-built raw HTTP/1.1 requests over keep-alive connections (asyncio + uvloop), sent on an
open-loop schedule (request i is due at start + i/rate), at most --connections in flight. Latency is
measured per request from the moment it is written. Afterwards the database is checked: every valid
event stored once, every bad signature recorded, and every event that got a 2xx is in the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import orjson
import psutil
import typer
from sqlalchemy import create_engine, func, select, text

from data.db import make_engine
from data.migrate import upgrade
from data.models import Payment, WebhookEvent, WebhookRejection
from sync.webhooks.intake import sign

ROOT = Path(__file__).resolve().parent.parent
SECRET = "bench_webhook_secret"
WRONG_SECRET = "not_the_webhook_secret"
PG_ADMIN_URL = os.environ.get("PAYOPS_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")

cli = typer.Typer(add_completion=False)


@dataclass(slots=True)
class Send:
    kind: str  # new | duplicate | bad_signature
    event_id: str
    request: bytes


@dataclass(slots=True)
class Result:
    status: int  # 0 = no answer (connection refused/reset, timeout)
    latency: float


@dataclass
class RunFigures:
    label: str
    sends: list[Send]
    results: list[Result | None]
    elapsed: float
    checks: dict[str, Any] = field(default_factory=dict)


# --- the load ------------------------------------------------------------------------------------------


def _payment(pid: str, oid: str, status: str, now: int, rng: random.Random) -> dict[str, Any]:
    method = rng.choice(["upi", "card", "netbanking", "wallet"])
    captured = status == "captured"
    return {
        "id": pid,
        "entity": "payment",
        "amount": rng.randrange(100, 500_000),
        "currency": "INR",
        "status": status,
        "order_id": oid,
        "invoice_id": None,
        "international": False,
        "method": method,
        "amount_refunded": 0,
        "refund_status": None,
        "captured": captured,
        "description": "Bench order",
        "card_id": "card_" + pid[4:] if method == "card" else None,
        "card": {
            "id": "card_" + pid[4:],
            "entity": "card",
            "name": "",
            "last4": "1111",
            "network": "Visa",
            "type": "credit",
            "issuer": "HDFC",
            "international": False,
            "emi": False,
        }
        if method == "card"
        else None,
        "bank": "HDFC" if method == "netbanking" else None,
        "wallet": "paytm" if method == "wallet" else None,
        "vpa": "buyer@okhdfcbank" if method == "upi" else None,
        "email": "buyer@example.com",
        "contact": "+919876543210",
        "notes": [],
        "fee": 1180 if captured else None,
        "tax": 180 if captured else None,
        "error_code": "BAD_REQUEST_ERROR" if status == "failed" else None,
        "error_description": "Payment failed" if status == "failed" else None,
        "error_source": "customer" if status == "failed" else None,
        "error_step": "payment_authentication" if status == "failed" else None,
        "error_reason": "payment_cancelled" if status == "failed" else None,
        "acquirer_data": {"rrn": str(rng.randrange(10**11, 10**12))},
        "created_at": now - rng.randrange(1, 300),
    }


def build_sends(count: int, port: int, seed: int = 7) -> list[Send]:
    """`count` deliveries: 85% new valid events, 10% repeats of earlier ones, 5% wrongly signed."""
    rng = random.Random(seed)
    now = int(time.time())
    head = f"POST /webhooks/razorpay HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
    sends: list[Send] = []
    valid: list[Send] = []
    for n in range(count):
        roll = rng.random()
        if roll < 0.10 and valid:
            # Repeat one of the recent events (Razorpay retries within seconds to hours).
            original = valid[max(0, len(valid) - rng.randrange(1, 200))]
            sends.append(Send("duplicate", original.event_id, original.request))
            continue
        event_type = rng.choices(
            ["payment.captured", "order.paid", "payment.authorized", "payment.failed"], [4, 3, 2, 1]
        )[0]
        tag = f"{n:08d}{uuid.UUID(int=rng.getrandbits(128)).hex[:6]}"
        pid, oid, event_id = f"pay_B{tag}", f"order_B{tag}", f"evt_B{tag}"
        status = {"payment.authorized": "authorized", "payment.failed": "failed"}.get(event_type, "captured")
        payload: dict[str, Any] = {"payment": {"entity": _payment(pid, oid, status, now, rng)}}
        if event_type == "order.paid":
            payload["order"] = {
                "entity": {
                    "id": oid,
                    "entity": "order",
                    "amount": 100,
                    "amount_paid": 100,
                    "amount_due": 0,
                    "currency": "INR",
                    "receipt": tag,
                    "status": "paid",
                    "attempts": 1,
                    "notes": [],
                    "created_at": now - 400,
                }
            }
        body = orjson.dumps(
            {
                "entity": "event",
                "account_id": "acc_Bench",
                "event": event_type,
                "contains": list(payload),
                "payload": payload,
                "created_at": now,
            }
        )
        bad = roll > 0.95
        signature = sign(body, WRONG_SECRET if bad else SECRET)
        request = (
            head + f"Content-Length: {len(body)}\r\nX-Razorpay-Signature: {signature}\r\n"
            f"X-Razorpay-Event-Id: {event_id}\r\n\r\n"
        ).encode() + body
        send = Send("bad_signature" if bad else "new", event_id, request)
        sends.append(send)
        if not bad:
            valid.append(send)
    return sends


async def _connection(
    port: int, sends: list[Send], results: list[Result | None], cursor: list[int], start: float, rate: float
) -> None:
    """One keep-alive connection to `port`, sending the next due request whenever it is free."""
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    # Bounded in time: whatever is not sent by twice the planned duration (+10 s) is left unsent.
    give_up_at = start + 2 * len(sends) / rate + 10
    while cursor[0] < len(sends) and time.monotonic() < give_up_at:
        i = cursor[0]
        cursor[0] += 1
        delay = start + i / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        sent_at = time.monotonic()
        status = 0
        try:
            if writer is None or reader is None:
                reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 2)
            assert reader is not None and writer is not None
            writer.write(sends[i].request)
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
        except (
            OSError,
            RuntimeError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
            TimeoutError,
            ValueError,
        ):
            # RuntimeError: uvloop refuses a write on a transport the killed server closed.
            status = 0
            if writer is not None:
                writer.close()
            reader = writer = None
        results[i] = Result(status, time.monotonic() - sent_at)


async def _offer(
    ports: list[int], sends: list[Send], rate: float, connections: int, start: float
) -> tuple[list[Result | None], float]:
    """Send on schedule (request i at start + i/rate, time.monotonic clock); results and duration.
    Connections are spread over `ports` (the replicas), as a load balancer would."""
    results: list[Result | None] = [None] * len(sends)
    cursor = [0]
    await asyncio.gather(
        *(_connection(ports[k % len(ports)], sends, results, cursor, start, rate) for k in range(connections))
    )
    return results, time.monotonic() - start


# Filled before the loader processes fork, so they inherit the prepared requests instead of
# receiving 60 MB through a pipe.
_SENDS: list[Send] = []


def _load_slice(ports: list[int], part: int, parts: int, rate: float, connections: int, start: float) -> Any:
    """One loader process: every `parts`-th request from `part`, at rate/parts."""
    mine = _SENDS[part::parts]
    return _run_loop(_offer(ports, mine, rate / parts, connections, start))


def offer(
    ports: list[int], sends: list[Send], rate: float, connections: int, loaders: int, during: Any = None
) -> tuple[list[Result | None], float]:
    """The load from `loaders` processes (one core each at most); `during(start)` runs meanwhile
    in this process (the SIGKILL scenario)."""
    _SENDS[:] = sends
    start = time.monotonic() + 1.0  # time for the loaders to fork and connect
    context = multiprocessing.get_context("fork")
    per_loader = max(1, connections // loaders)
    with ProcessPoolExecutor(loaders, mp_context=context) as pool:
        futures = [
            pool.submit(_load_slice, ports, part, loaders, rate, per_loader, start) for part in range(loaders)
        ]
        if during is not None:
            during(start)
        parts = [future.result() for future in futures]
    results: list[Result | None] = [None] * len(sends)
    for part, (part_results, _) in enumerate(parts):
        results[part::loaders] = part_results
    return results, max(elapsed for _, elapsed in parts)


# --- the receiver process ------------------------------------------------------------------------------


NULL_DATABASE = "null:"  # no receiver database: the --null-receiver run
RECEIVER_LOG = Path(tempfile.gettempdir()) / "bench_webhooks_receiver.log"
ROLLUP_INTERVAL = ["1.0"]  # set from --rollup-interval
# Start-up is mostly imports; on a starved shared machine it has been seen to take over 30 s.
START_WITHIN_SECONDS = 120


async def null_receiver(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """An ASGI app that answers 200 at once (no verification, no database): `--null-receiver`
    measures what the load generator itself can offer on this machine."""
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False) and message["type"] == "http.request"
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"{}"})


def start_receiver(database_url: str, port: int, workers: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "RAZORPAY_WEBHOOK_SECRET": SECRET}
    command = [
        *(
            sys.executable,
            "-m",
            "sync.webhooks",
            "serve",
            "--port",
            str(port),
            "--database-url",
            database_url,
        ),
        *("--workers", str(workers), "--rollup-interval", ROLLUP_INTERVAL[0]),
    ]
    if database_url == NULL_DATABASE:
        command = [sys.executable, "-m", "uvicorn", "bench.bench_webhooks:null_receiver", "--port", str(port)]
        command += ["--log-level", "warning", "--no-access-log"]
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=RECEIVER_LOG.open("ab"),
        start_new_session=True,
    )
    deadline = time.monotonic() + START_WITHIN_SECONDS
    while time.monotonic() < deadline:
        if _healthy(port):
            return process
        if process.poll() is not None:
            raise RuntimeError(f"receiver exited: {RECEIVER_LOG.read_text(errors='replace')[-500:]}")
        time.sleep(0.1)
    stop_receiver(process, signal.SIGKILL)
    raise RuntimeError(f"receiver did not become healthy in {START_WITHIN_SECONDS} s")


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def stop_receiver(process: subprocess.Popen[bytes], how: signal.Signals = signal.SIGTERM) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, how)  # the receiver's own session: uvicorn and its workers
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=15)
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def receiver_cpu_seconds(process: subprocess.Popen[bytes]) -> float:
    """CPU time used by the receiver (and its workers): capacity per core = 1 / CPU per delivery,
    whatever else the shared machine is running."""
    root = psutil.Process(process.pid)
    total = 0.0
    for proc in [root, *root.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            times = proc.cpu_times()
            total += times.user + times.system
    return total


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# --- one run -------------------------------------------------------------------------------------------


def run(
    label: str,
    database_url: str,
    *,
    seconds: float,
    rate: float,
    connections: int,
    loaders: int,
    workers: int,
    kill_at: float | None,
    replicas: int = 1,
) -> RunFigures:
    """One run against `replicas` receiver processes on one database (each on its own port); with
    `kill_at`, the first replica is SIGKILLed that many seconds in and restarted."""
    ports = [free_port() for _ in range(replicas)]
    sends = build_sends(int(seconds * rate), ports[0])
    processes = []
    try:
        for port in ports:
            processes.append(start_receiver(database_url, port, workers))
    except BaseException:
        for process in processes:
            stop_receiver(process)
        raise
    # Start-up (imports, connecting) is not per-event work: only CPU used from here on is counted.
    cpu_at_start = sum(receiver_cpu_seconds(process) for process in processes)
    extra: dict[str, Any] = {}

    def killer(start: float) -> None:
        assert kill_at is not None
        time.sleep(max(0.0, start + kill_at - time.monotonic()))
        os.killpg(processes[0].pid, signal.SIGKILL)
        processes[0].wait()
        killed = time.monotonic()
        processes[0] = start_receiver(database_url, ports[0], workers)
        extra["down_seconds"] = time.monotonic() - killed

    load_before = os.getloadavg()[0]
    try:
        results, elapsed = offer(
            ports, sends, rate, connections, loaders, killer if kill_at is not None else None
        )
        cpu = sum(receiver_cpu_seconds(process) for process in processes) - cpu_at_start
    finally:
        for process in processes:
            stop_receiver(process)
    answered = sum(1 for r in results if r is not None and r.status != 0)
    if kill_at is None:  # after a kill, only the restarted process's CPU would be counted
        extra["receiver_cpu_ms_per_answer"] = cpu * 1000 / max(1, answered)
    extra["load_average_1m_before_after"] = f"{load_before:.1f}/{os.getloadavg()[0]:.1f}"
    figures = RunFigures(label, sends, results, elapsed)
    figures.checks = verify(database_url, sends, results) if database_url != NULL_DATABASE else {}
    figures.checks.update(extra)
    return figures


def _run_loop(coroutine: Any) -> Any:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)
    return uvloop.run(coroutine)


def verify(database_url: str, sends: list[Send], results: list[Result | None]) -> dict[str, Any]:
    engine = make_engine(database_url)
    with engine.connect() as conn:
        stored = dict(conn.execute(select(WebhookEvent.event_id, WebhookEvent.delivery_count)).all())
        # Rejections are counted per reason, source and minute: deliveries are the rows' sum.
        rejected = Counter(
            {
                str(reason): int(count)
                for reason, count in conn.execute(
                    select(WebhookRejection.reason, func.sum(WebhookRejection.delivery_count)).group_by(
                        WebhookRejection.reason
                    )
                )
            }
        )
        rejection_rows = conn.execute(select(func.count()).select_from(WebhookRejection)).scalar_one()
        payments = conn.execute(select(func.count()).select_from(Payment)).scalar_one()
        applied = conn.execute(select(func.count()).where(WebhookEvent.applied.is_(True))).scalar_one()
    engine.dispose()
    ok = {s.event_id for s, r in zip(sends, results, strict=True) if r is not None and 200 <= r.status < 300}
    valid_ids = {s.event_id for s, r in zip(sends, results, strict=True) if s.kind != "bad_signature" and r}
    bad_ids = {s.event_id for s in sends if s.kind == "bad_signature"}
    answered_bad = sum(
        1 for s, r in zip(sends, results, strict=True) if s.kind == "bad_signature" and r and r.status == 400
    )
    return {
        "valid_events_sent": len(valid_ids),
        "valid_events_without_2xx": len(valid_ids - ok),
        "stored_events": len(stored),
        "applied_events": applied,
        "payments_rows": payments,
        "acknowledged_but_missing": len(ok - stored.keys()),
        "valid_events_not_stored": len(valid_ids - stored.keys()),
        "bad_signature_stored": len(bad_ids & stored.keys()),
        "bad_signature_answered_400": answered_bad,
        "rejections_recorded": rejected.get("bad_signature", 0),
        "rejection_rows": rejection_rows,
        "repeat_deliveries_counted": sum(stored.values()) - len(stored),
    }


# --- databases -----------------------------------------------------------------------------------------


@contextlib.contextmanager
def fresh_database(backend: str, directory: Path) -> Any:
    if backend == "sqlite":
        url = f"sqlite:///{directory / f'bench-{uuid.uuid4().hex[:8]}.db'}"
        _migrate(url)
        yield url
        return
    name = f"payops_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        _migrate(url)
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _migrate(url: str) -> None:
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()


# --- report --------------------------------------------------------------------------------------------


def report(figures: RunFigures) -> str:
    answered = [r for r in figures.results if r is not None]
    latencies = sorted(r.latency * 1000 for r in answered if r.status != 0)
    codes = Counter(r.status for r in answered)
    by_kind = Counter(s.kind for s in figures.sends)
    ok = sum(n for code, n in codes.items() if 200 <= code < 300)

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] if latencies else float("nan")

    lines = [
        f"### {figures.label}",
        *(
            [f"- **time bound hit: {len(figures.sends) - len(answered)} deliveries never sent**"]
            if len(answered) < len(figures.sends)
            else []
        ),
        f"- offered {len(figures.sends)} deliveries in {figures.elapsed:.1f} s = "
        f"**{len(answered) / figures.elapsed:.0f} answered/s** ({ok / figures.elapsed:.0f} 2xx/s); "
        f"mix: {by_kind['new']} new, {by_kind['duplicate']} duplicates, {by_kind['bad_signature']} bad signatures",
        f"- answers: {dict(sorted(codes.items()))} (0 = no answer: connection refused/reset or timeout)",
        f"- latency ms: p50 {pct(0.50):.1f}, p90 {pct(0.90):.1f}, p99 {pct(0.99):.1f}, max {latencies[-1] if latencies else float('nan'):.1f}"
        f" (mean {statistics.fmean(latencies) if latencies else float('nan'):.1f})",
        "- database check: "
        + ", ".join(
            f"{key} {value if not isinstance(value, float) else round(value, 2)}"
            for key, value in figures.checks.items()
        ),
    ]
    return "\n".join(lines)


def _replica_label(replicas: int) -> str:
    return f", {replicas} receiver processes" if replicas > 1 else ""


@cli.command()
def main(
    backends: Annotated[str, typer.Option(help="Comma list: sqlite,postgresql")] = "sqlite,postgresql",
    seconds: Annotated[float, typer.Option(min=1, max=120, help="Length of each sustained run.")] = 30,
    rate: Annotated[float, typer.Option(min=1, max=20000, help="Offered deliveries per second.")] = 1000,
    connections: Annotated[int, typer.Option(min=1, max=512, help="Keep-alive connections in all.")] = 32,
    loaders: Annotated[int, typer.Option(min=1, max=8, help="Load-generator processes.")] = 2,
    workers: Annotated[int, typer.Option(min=1, max=8, help="uvicorn workers of each receiver.")] = 1,
    replicas: Annotated[
        int,
        typer.Option(
            min=1, max=4, help="Separate receiver processes on one database, connections spread over them."
        ),
    ] = 1,
    kill: Annotated[bool, typer.Option(help="Also run the SIGKILL + restart scenario.")] = True,
    kill_seconds: Annotated[float, typer.Option(min=2, max=120, help="Length of the kill run.")] = 20,
    null_receiver: Annotated[
        bool, typer.Option(help="Only measure the load generator, against a receiver that does nothing.")
    ] = False,
    rollup_interval: Annotated[
        float, typer.Option(min=0, help="Receiver's --rollup-interval (0 = refresh in every write).")
    ] = 1.0,
) -> None:
    """Measure the receiver; prints a markdown block for docs/benchmarks.md."""
    ROLLUP_INTERVAL[0] = str(rollup_interval)
    chosen = [b.strip() for b in backends.split(",") if b.strip()]
    if not chosen or any(b not in ("sqlite", "postgresql") for b in chosen):
        typer.echo("error: --backends takes sqlite and/or postgresql", err=True)
        raise typer.Exit(1)
    blocks = [
        f"_{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores, "
        f"{replicas} receiver process(es) x {workers} worker(s), {loaders} load-generator processes, "
        f"{connections} connections, "
        f"--rollup-interval {rollup_interval}_"
    ]
    if null_receiver:
        figures = run(
            f"load generator alone (null receiver): {rate:.0f}/s offered for {seconds:.0f} s",
            NULL_DATABASE,
            seconds=seconds,
            rate=rate,
            connections=connections,
            loaders=loaders,
            workers=1,
            kill_at=None,
        )
        print(report(figures))
        return
    with tempfile.TemporaryDirectory(prefix="bench-webhooks-") as tmp:
        for backend in chosen:
            with fresh_database(backend, Path(tmp)) as url:
                figures = run(
                    f"{backend}{_replica_label(replicas)}: {rate:.0f}/s offered for {seconds:.0f} s",
                    url,
                    seconds=seconds,
                    rate=rate,
                    connections=connections,
                    loaders=loaders,
                    workers=workers,
                    kill_at=None,
                    replicas=replicas,
                )
            print(report(figures), flush=True)
            blocks.append(report(figures))
            if kill:
                with fresh_database(backend, Path(tmp)) as url:
                    figures = run(
                        f"{backend}{_replica_label(replicas)}: SIGKILL + restart (of the first replica) "
                        f"at {kill_seconds / 2:.0f} s of a {kill_seconds:.0f} s run "
                        f"at {rate:.0f}/s",
                        url,
                        seconds=kill_seconds,
                        rate=rate,
                        connections=connections,
                        loaders=loaders,
                        workers=workers,
                        kill_at=kill_seconds / 2,
                        replicas=replicas,
                    )
                print(report(figures), flush=True)
                blocks.append(report(figures))
    print("\n\n".join(blocks))


if __name__ == "__main__":
    cli()
