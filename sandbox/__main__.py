"""`python -m sandbox serve | webhooks | confirmations | manifest | statement`: the local Razorpay stand-in's command line."""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Annotated

import orjson
import requests
import typer

from data.cli import ExitCode, fail
from data.settings import SANDBOX_BASE_URL, SANDBOX_KEY_ID, SANDBOX_KEY_SECRET

app = typer.Typer(add_completion=False, no_args_is_help=True, help="A local, Razorpay-compatible sandbox.")


# Options several commands share.
Api = Annotated[str, typer.Option(help="The running sandbox.")]
KeyId = Annotated[str, typer.Option(help="Sandbox API key id.")]
KeySecret = Annotated[str, typer.Option(help="Sandbox API key secret.")]


def _fail(reason: str, code: ExitCode = ExitCode.BAD_INPUT) -> typer.Exit:
    return fail(f"error: {reason}", code)


def _rate(name: str, value: float) -> float:
    if not 0.0 <= value <= 1.0:
        raise _fail(f"{name} must be between 0 and 1, got {value}")
    return value


def _per_second(text: str) -> float:
    """ "25/s", "25" or "0" → requests per second."""
    value = text.strip().lower().removesuffix("/s")
    try:
        rate = float(value)
    except ValueError:
        raise _fail(f"--rate-limit must look like 25/s, got {text!r}") from None
    if rate < 0:
        raise _fail(f"--rate-limit must not be negative, got {text!r}")
    return rate


@app.command()
def serve(
    seed: Annotated[int, typer.Option(help="Random seed; same arguments give byte-identical data.")] = 7,
    days: Annotated[int, typer.Option(help="Days of history ending at --now.")] = 30,
    payments_per_day: Annotated[int, typer.Option(help="Average payments per day.")] = 2000,
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 9000,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    key_id: Annotated[str, typer.Option(help="API key id accepted by basic auth.")] = SANDBOX_KEY_ID,
    key_secret: Annotated[
        str, typer.Option(help="API key secret accepted by basic auth.")
    ] = SANDBOX_KEY_SECRET,
    now: Annotated[
        int | None,
        typer.Option(help="The sandbox clock, epoch seconds (default: now, floored to the minute)."),
    ] = None,
    fault_5xx: Annotated[float, typer.Option(help="Share of /v1 requests answered 500/502/503/504.")] = 0.0,
    fault_429: Annotated[
        float, typer.Option(help="Share of /v1 requests answered 429 with Retry-After.")
    ] = 0.0,
    fault_slow: Annotated[float, typer.Option(help="Share of /v1 requests delayed by --slow-seconds.")] = 0.0,
    slow_seconds: Annotated[float, typer.Option(help="Delay of a slow response.")] = 2.0,
    fault_drop: Annotated[
        float, typer.Option(help="Share of /v1 requests whose connection is dropped unanswered.")
    ] = 0.0,
    fault_nonjson: Annotated[
        float, typer.Option(help="Share of /v1 requests answered by an HTML 502 page.")
    ] = 0.0,
    latency_ms: Annotated[
        float,
        typer.Option(help="Latency of every /v1 request in ms (uniform within ±20%: --latency-jitter)."),
    ] = 0.0,
    latency_jitter: Annotated[float, typer.Option(help="Jitter of the latency, a share of it (0-1).")] = 0.2,
    rate_limit: Annotated[
        str,
        typer.Option(
            help="Requests per second for the key, across every /v1 endpoint, e.g. 25/s; beyond it a 429 "
            "with Retry-After (0 = none)."
        ),
    ] = "0",
    anomaly_rate: Annotated[
        float, typer.Option(help="Share of eligible entities given each planted anomaly.")
    ] = 0.002,
    alert_plants: Annotated[
        bool,
        typer.Option(
            "--alert-plants/--no-alert-plants",
            help="Also plant what the alert rules must find (busy hours with success drops, a webhook "
            "silence, card testing, a velocity outlier; the manifest's alert_plants).",
        ),
    ] = False,
) -> None:
    """Generate the data set and serve the Razorpay API on HOST:PORT until stopped."""
    from sandbox.build import SandboxConfig, generate
    from sandbox.server import Faults, Pace, SandboxApi, make_server

    if days < 1 or payments_per_day < 1:
        raise _fail("--days and --payments-per-day must be at least 1")
    if not 0 < port < 65536:
        raise _fail(f"--port must be 1-65535, got {port}")
    if slow_seconds < 0:
        raise _fail("--slow-seconds must not be negative")
    if latency_ms < 0:
        raise _fail("--latency-ms must not be negative")
    pace = Pace(
        latency_ms=latency_ms,
        latency_jitter=_rate("--latency-jitter", latency_jitter),
        rate_limit=_per_second(rate_limit),
    )
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
        seed=seed,
        days=days,
        payments_per_day=payments_per_day,
        now=now,
        anomaly_rate=anomaly_rate,
        alert_plants=alert_plants,
    )
    dataset = generate(config)
    api = SandboxApi(dataset, key_id, key_secret, faults, pace)
    try:
        server = make_server(api, host, port)
    except OSError as error:
        raise _fail(f"cannot listen on {host}:{port}: {error.strerror}", ExitCode.FAILED) from None

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
    to: Annotated[str, typer.Option(help="Receiver URL, e.g. http://127.0.0.1:8000/webhooks/razorpay.")],
    secret: Annotated[str, typer.Option(help="Webhook secret to sign with.")],
    api: Api = SANDBOX_BASE_URL,
    since_days: Annotated[
        float, typer.Option(help="Replay events of the last D days (of the sandbox clock).")
    ] = 3.0,
    limit: Annotated[int, typer.Option(help="At most N events.")] = 1_000_000,
    rate: Annotated[float, typer.Option(help="Events per second (0 = as fast as possible).")] = 0.0,
    concurrency: Annotated[int, typer.Option(help="Parallel senders.")] = 4,
    progress_file: Annotated[
        Path | None,
        typer.Option(help="Keep the replay's progress (events handled of the total) in this JSON file."),
    ] = None,
    key_id: KeyId = SANDBOX_KEY_ID,
    key_secret: KeySecret = SANDBOX_KEY_SECRET,
) -> None:
    """Post the sandbox's history as signed webhook events, each as it was sent then (its event time as
    created_at, its first-send time in `payops_replay.sent_at_ms`), with its planted delivery faults."""
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
        raise _fail(f"cannot read deliveries from the sandbox at {api}: {error}", ExitCode.FAILED) from None
    started = time.monotonic()
    sender = Sender(to, secret, rate=rate, concurrency=concurrency, progress_file=progress_file)
    summary = sender.send_all(deliveries)
    result = summary.as_dict() | {"seconds": round(time.monotonic() - started, 2)}
    typer.echo(orjson.dumps(result).decode())


@app.command()
def confirmations(
    to: Annotated[str, typer.Option(help="Receiver URL, e.g. http://127.0.0.1:8000/checkout/confirmations.")],
    api: Api = SANDBOX_BASE_URL,
    since_days: Annotated[float, typer.Option(help="Captured payments of the last D days.")] = 1.0,
    limit: Annotated[int, typer.Option(help="At most N confirmations.")] = 500,
    forged: Annotated[float, typer.Option(help="Share of confirmations forged.")] = 0.1,
    seed: Annotated[int, typer.Option(help="Random seed for which ones are forged.")] = 7,
    key_id: KeyId = SANDBOX_KEY_ID,
    key_secret: KeySecret = SANDBOX_KEY_SECRET,
) -> None:
    """Post checkout confirmations for captured payments, some forged; print which, and the verdicts."""
    from sandbox.confirmations import fetch_captured, post_confirmations

    _rate("--forged", forged)
    if since_days <= 0 or limit < 1:
        raise _fail("--since-days must be > 0 and --limit >= 1")
    auth = (key_id, key_secret)
    session = requests.Session()
    try:
        state = session.get(f"{api.rstrip('/')}/_sandbox/state", auth=auth, timeout=30)
        state.raise_for_status()
        payments = fetch_captured(api, auth, int(state.json()["now"] - since_days * 86_400), limit)

        def post(body: dict[str, str]) -> dict[str, object]:
            answer: dict[str, object] = session.post(to, json=body, timeout=30).json()
            return answer

        record = post_confirmations(
            payments, key_secret=key_secret, post=post, forged_share=forged, seed=seed
        )
    except (requests.RequestException, ValueError) as error:
        raise _fail(f"cannot post confirmations: {error}", ExitCode.FAILED) from None
    typer.echo(orjson.dumps(record.as_dict()).decode())


@app.command()
def manifest(
    api: Api = SANDBOX_BASE_URL, key_id: KeyId = SANDBOX_KEY_ID, key_secret: KeySecret = SANDBOX_KEY_SECRET
) -> None:
    """Print the ground-truth manifest (planted anomalies and webhook faults) as JSON."""
    try:
        response = requests.get(f"{api.rstrip('/')}/_sandbox/manifest", auth=(key_id, key_secret), timeout=60)
        response.raise_for_status()
    except requests.RequestException as error:
        raise _fail(f"cannot read the manifest from {api}: {error}", ExitCode.FAILED) from None
    typer.echo(orjson.dumps(response.json(), option=orjson.OPT_INDENT_2).decode())


@app.command()
def statement(
    fmt: Annotated[str, typer.Option("--format", help="csv (HDFC layout) | mt940 | camt053.")] = "csv",
    out: Annotated[str, typer.Option(help="File to write (default: standard output).")] = "-",
    api: Api = SANDBOX_BASE_URL,
    key_id: KeyId = SANDBOX_KEY_ID,
    key_secret: KeySecret = SANDBOX_KEY_SECRET,
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
        raise _fail(f"cannot read the statement from {api}: {error}", ExitCode.FAILED) from None
    if out == "-":
        sys.stdout.buffer.write(response.content)
    else:
        with open(out, "wb") as handle:
            handle.write(response.content)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
