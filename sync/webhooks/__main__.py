"""`python -m sync.webhooks serve`: run the webhook receiver under uvicorn."""

from __future__ import annotations

import os
from typing import Annotated

import typer
import uvicorn
from sqlalchemy import inspect
from sqlalchemy.exc import SQLAlchemyError

from data.cli import ExitCode, fail
from data.db import make_engine
from data.settings import (
    BATCH_DELAY_ENV,
    BODY_TIMEOUT_ENV,
    MAX_PENDING_ENV,
    ROLLUP_INTERVAL_ENV,
    get_settings,
)

cli = typer.Typer(add_completion=False, no_args_is_help=True, help="The Razorpay webhook receiver.")


@cli.callback()
def receiver() -> None:
    """The Razorpay webhook receiver (POST /webhooks/razorpay, GET /healthz, GET /metrics)."""


@cli.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port to listen on.")] = 8000,
    database_url: Annotated[
        str | None, typer.Option(help="Database to write to (default: DATABASE_URL).")
    ] = None,
    workers: Annotated[int, typer.Option(min=1, max=32, help="uvicorn worker processes.")] = 1,
    access_log: Annotated[bool, typer.Option(help="Log every request (costs throughput).")] = False,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            min=1, max=65535, help="Serve /metrics on this internal port instead (one worker only)."
        ),
    ] = None,
    metrics_host: Annotated[str, typer.Option(help="Interface of the metrics port.")] = "127.0.0.1",
    body_timeout: Annotated[
        float, typer.Option(min=0.1, max=60, help="Seconds a request body may take to arrive (then 408).")
    ] = 10.0,
    rollup_interval: Annotated[
        float,
        typer.Option(min=0, max=3600, help="Seconds between payment-rollup refreshes; 0 = in every write."),
    ] = 1.0,
    max_pending: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Deliveries queued per process beyond which one is answered 503 + Retry-After "
            "(default: PAYOPS_WEBHOOK_MAX_PENDING, else 4096).",
        ),
    ] = None,
    batch_delay: Annotated[
        float | None,
        typer.Option(
            min=0,
            max=1,
            help="Seconds a delivery may wait for others to share its commit "
            "(default: PAYOPS_WEBHOOK_BATCH_DELAY, else 0.01).",
        ),
    ] = None,
) -> None:
    """Receive Razorpay webhooks: verify, store each event once, apply it. Needs a migrated database."""
    if database_url:
        # Worker processes build their app from the environment, so the choice travels there.
        os.environ["DATABASE_URL"] = database_url
    os.environ[ROLLUP_INTERVAL_ENV] = str(rollup_interval)
    os.environ[BODY_TIMEOUT_ENV] = str(body_timeout)
    if max_pending is not None:
        os.environ[MAX_PENDING_ENV] = str(max_pending)
    if batch_delay is not None:
        os.environ[BATCH_DELAY_ENV] = str(batch_delay)
    if metrics_port is not None:
        if workers > 1:
            # Each worker has its own counters; one port cannot serve them all. Run one process per port.
            raise _fail(
                "--metrics-port needs --workers 1 (run one process per metrics port)", ExitCode.BAD_INPUT
            )
        os.environ["PAYOPS_METRICS_PORT"] = str(metrics_port)
        os.environ["PAYOPS_METRICS_HOST"] = metrics_host
    get_settings.cache_clear()
    settings = get_settings()
    if not settings.webhook_secrets:
        raise _fail("no webhook secret configured: set RAZORPAY_WEBHOOK_SECRET", ExitCode.BAD_INPUT)
    try:
        engine = make_engine(settings.database_url)
    except SQLAlchemyError as error:
        raise _fail(f"bad database URL: {type(error).__name__}", ExitCode.BAD_INPUT) from error
    try:
        tables = set(inspect(engine).get_table_names())
    except SQLAlchemyError as error:
        raise _fail(f"database not reachable: {type(error).__name__}") from error
    finally:
        engine.dispose()
    if "webhook_events" not in tables:
        raise _fail("database has no payops schema: run `python -m data upgrade` first")
    uvicorn.run(
        "sync.webhooks.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        access_log=access_log,
        log_level="info",
    )


def _fail(reason: str, code: ExitCode = ExitCode.FAILED) -> typer.Exit:
    return fail(f"error: {reason}", code)


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
