"""`python -m sandbox serve | webhooks | manifest | statement`: the local Razorpay stand-in's command line."""

from __future__ import annotations

import signal
import sys
import time
from types import FrameType

import orjson
import requests
import typer

from data.settings import SANDBOX_BASE_URL, SANDBOX_KEY_ID, SANDBOX_KEY_SECRET, SANDBOX_WEBHOOK_SECRET

app = typer.Typer(add_completion=False, no_args_is_help=True, help="A local, Razorpay-compatible sandbox.")


def _fail(reason: str) -> typer.Exit:
    typer.echo(f"error: {reason}", err=True)
    return typer.Exit(code=2)


def _rate(name: str, value: float) -> float:
    if not 0.0 <= value <= 1.0:
        raise _fail(f"{name} must be between 0 and 1, got {value}")
    return value


@app.command()
def serve(
    seed: int = typer.Option(7, help="Random seed; same arguments give byte-identical data."),
    days: int = typer.Option(30, help="Days of history ending at --now."),
    payments_per_day: int = typer.Option(2000, help="Average payments per day."),
    port: int = typer.Option(9000, help="Port to listen on."),
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    key_id: str = typer.Option(SANDBOX_KEY_ID, help="API key id accepted by basic auth."),
    key_secret: str = typer.Option(SANDBOX_KEY_SECRET, help="API key secret accepted by basic auth."),
    webhook_secret: str = typer.Option(
        SANDBOX_WEBHOOK_SECRET, help="Webhook secret (recorded for the sender)."
    ),
    now: int | None = typer.Option(
        None, help="The sandbox clock, epoch seconds (default: now, floored to the minute)."
    ),
    fault_5xx: float = typer.Option(0.0, help="Share of /v1 requests answered 500/502/503/504."),
    fault_429: float = typer.Option(0.0, help="Share of /v1 requests answered 429 with Retry-After."),
    fault_slow: float = typer.Option(0.0, help="Share of /v1 requests delayed by --slow-seconds."),
    slow_seconds: float = typer.Option(2.0, help="Delay of a slow response."),
    fault_drop: float = typer.Option(
        0.0, help="Share of /v1 requests whose connection is dropped unanswered."
    ),
    fault_nonjson: float = typer.Option(0.0, help="Share of /v1 requests answered by an HTML 502 page."),
    anomaly_rate: float = typer.Option(0.002, help="Share of eligible entities given each planted anomaly."),
) -> None:
    """Generate the data set and serve the Razorpay API on HOST:PORT until stopped."""
    from sandbox.generator import SandboxConfig, generate
    from sandbox.server import Faults, SandboxApi, make_server

    if days < 1 or payments_per_day < 1:
        raise _fail("--days and --payments-per-day must be at least 1")
    if not 0 < port < 65536:
        raise _fail(f"--port must be 1-65535, got {port}")
    if slow_seconds < 0:
        raise _fail("--slow-seconds must not be negative")
    faults = Faults(
        fault_drop=_rate("--fault-drop", fault_drop),
        fault_5xx=_rate("--fault-5xx", fault_5xx),
        fault_nonjson=_rate("--fault-nonjson", fault_nonjson),
        fault_429=_rate("--fault-429", fault_429),
        fault_slow=_rate("--fault-slow", fault_slow),
        slow_seconds=slow_seconds,
    )
    _rate("--anomaly-rate", anomaly_rate)
    config = SandboxConfig(
        seed=seed, days=days, payments_per_day=payments_per_day, now=now, anomaly_rate=anomaly_rate
    )
    dataset = generate(config)
    api = SandboxApi(dataset, key_id, key_secret, faults)
    try:
        server = make_server(api, host, port)
    except OSError as error:
        raise _fail(f"cannot listen on {host}:{port}: {error.strerror}") from None

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    typer.echo(f"sandbox ready on http://{host}:{server.server_address[1]}")
    sys.stdout.flush()
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


@app.command()
def webhooks(
    to: str = typer.Option(..., help="Receiver URL, e.g. http://127.0.0.1:8000/webhooks/razorpay."),
    secret: str = typer.Option(..., help="Webhook secret to sign with."),
    api: str = typer.Option(SANDBOX_BASE_URL, help="The running sandbox."),
    since_days: float = typer.Option(3.0, help="Replay events of the last D days (of the sandbox clock)."),
    limit: int = typer.Option(1_000_000, help="At most N events."),
    rate: float = typer.Option(0.0, help="Events per second (0 = as fast as possible)."),
    concurrency: int = typer.Option(4, help="Parallel senders."),
    key_id: str = typer.Option(SANDBOX_KEY_ID, help="Sandbox API key id."),
    key_secret: str = typer.Option(SANDBOX_KEY_SECRET, help="Sandbox API key secret."),
) -> None:
    """Post the sandbox's history as signed webhook events (with its planted delivery faults)."""
    from sandbox.sender import Sender, fetch_deliveries

    if since_days <= 0 or limit < 1 or concurrency < 1 or rate < 0:
        raise _fail("--since-days must be > 0, --limit and --concurrency >= 1, --rate >= 0")
    auth = (key_id, key_secret)
    try:
        state = requests.get(f"{api.rstrip('/')}/_sandbox/state", auth=auth, timeout=30)
        state.raise_for_status()
        since = int(state.json()["now"] - since_days * 86_400)
        deliveries = fetch_deliveries(api, auth, since, limit)
    except requests.RequestException as error:
        raise _fail(f"cannot read deliveries from the sandbox at {api}: {error}") from None
    started = time.monotonic()
    summary = Sender(to, secret, rate=rate, concurrency=concurrency).send_all(deliveries)
    result = summary.as_dict() | {"seconds": round(time.monotonic() - started, 2)}
    typer.echo(orjson.dumps(result).decode())


@app.command()
def manifest(
    api: str = typer.Option(SANDBOX_BASE_URL, help="The running sandbox."),
    key_id: str = typer.Option(SANDBOX_KEY_ID, help="Sandbox API key id."),
    key_secret: str = typer.Option(SANDBOX_KEY_SECRET, help="Sandbox API key secret."),
) -> None:
    """Print the ground-truth manifest (planted anomalies and webhook faults) as JSON."""
    try:
        response = requests.get(f"{api.rstrip('/')}/_sandbox/manifest", auth=(key_id, key_secret), timeout=60)
        response.raise_for_status()
    except requests.RequestException as error:
        raise _fail(f"cannot read the manifest from {api}: {error}") from None
    typer.echo(orjson.dumps(response.json(), option=orjson.OPT_INDENT_2).decode())


@app.command()
def statement(
    fmt: str = typer.Option("csv", "--format", help="csv (HDFC layout) | mt940 | camt053."),
    out: str = typer.Option("-", help="File to write (default: standard output)."),
    api: str = typer.Option(SANDBOX_BASE_URL, help="The running sandbox."),
    key_id: str = typer.Option(SANDBOX_KEY_ID, help="Sandbox API key id."),
    key_secret: str = typer.Option(SANDBOX_KEY_SECRET, help="Sandbox API key secret."),
) -> None:
    """Write the bank statement of the sandbox's settlements (planted faults in the manifest)."""
    try:
        response = requests.get(
            f"{api.rstrip('/')}/_sandbox/statement",
            params={"format": fmt},
            auth=(key_id, key_secret),
            timeout=120,
        )
        response.raise_for_status()
    except requests.RequestException as error:
        raise _fail(f"cannot read the statement from {api}: {error}") from None
    if out == "-":
        sys.stdout.buffer.write(response.content)
    else:
        with open(out, "wb") as handle:
            handle.write(response.content)


if __name__ == "__main__":
    app()
