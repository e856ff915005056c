"""The receiver's writer alone: CPU per delivery of `EventWriter`'s batch transaction, by statement,
in this process (no HTTP, no threads), so the figure holds on a shared machine better than a wall time.

    .venv/bin/python -m bench.bench_webhook_writer --backend sqlite --deliveries 4000 --batch 32

The deliveries are bench_webhooks' mix (85 % new events, 10 % repeats, 5 % bad signatures), verified
by the receiver's own intake first; each batch is one `_write_batch_once` transaction, as the writer
thread runs it. CPU is `time.process_time`; each statement's share is measured around its function.
"""

from __future__ import annotations

import contextlib
import functools
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy import create_engine, text

from bench.bench_webhooks import PG_ADMIN_URL, SECRET, build_sends
from data.db import make_engine
from data.migrate import upgrade
from sync.webhooks import store
from sync.webhooks.intake import Delivery, Rejection, check_delivery

# The functions of one batch transaction whose CPU is reported separately.
PHASES = (
    "plan_event",
    "record_rejections",
    "insert_new_events",
    "classify_unwritten",
    "count_repeats",
    "record_conflicts",
    "_apply",
)

cli = typer.Typer(add_completion=False)


@contextlib.contextmanager
def _database(backend: str) -> Iterator[str]:
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="bench-writer-") as directory:
            yield f"sqlite:///{Path(directory) / 'writer.db'}"
        return
    name = f"payops_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _timed(spent: dict[str, float], name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(function)
    def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.process_time()
        try:
            return function(*args, **kwargs)
        finally:
            spent[name] += time.process_time() - started

    return timed


def _items(count: int) -> list[Delivery | Rejection]:
    received_at = datetime.now(UTC)
    items: list[Delivery | Rejection] = []
    for send in build_sends(count, 8000):
        head, body = send.request.split(b"\r\n\r\n", 1)
        headers = dict(line.split(b": ", 1) for line in head.split(b"\r\n")[1:])
        items.append(
            check_delivery(
                body=body,
                signature=headers[b"X-Razorpay-Signature"].decode(),
                event_id=headers[b"X-Razorpay-Event-Id"].decode(),
                source_address="127.0.0.1",
                secrets=[SECRET],
                received_at=received_at,
            )
        )
    return items


@cli.command()
def main(
    backend: Annotated[str, typer.Option(help="sqlite or postgresql")] = "sqlite",
    deliveries: Annotated[int, typer.Option(min=100, max=200_000)] = 4000,
    batch: Annotated[int, typer.Option(min=1, max=512, help="Deliveries per transaction.")] = 32,
    rollup_interval: Annotated[float, typer.Option(min=0, help="As the receiver's --rollup-interval.")] = 1.0,
) -> None:
    """Print the writer's CPU per delivery, in all and by statement."""
    if backend not in ("sqlite", "postgresql"):
        typer.echo("error: --backend takes sqlite or postgresql", err=True)
        raise typer.Exit(1)
    items = _items(deliveries)
    spent: dict[str, float] = defaultdict(float)
    with contextlib.ExitStack() as patches, _database(backend) as url:
        for name in PHASES:
            patches.enter_context(_patched(name, spent))
        engine = make_engine(url)
        upgrade(engine)
        writer = store.EventWriter(engine, rollup_interval=rollup_interval)
        started = time.process_time()
        for start in range(0, len(items), batch):
            writer._write_batch_once(items[start : start + batch], apply_error=None)
        total = time.process_time() - started
        engine.dispose()
    per = 1e6 / len(items)
    ranked = sorted(spent.items(), key=lambda pair: -pair[1])
    shares = ", ".join(f"{name} {seconds * per:.0f}" for name, seconds in ranked)
    print(
        f"{backend}, batches of {batch}: {total * per:.0f} µs CPU per delivery "
        f"({shares}, rest {(total - sum(spent.values())) * per:.0f}: commit, rollups, glue)"
    )


@contextlib.contextmanager
def _patched(name: str, spent: dict[str, float]) -> Iterator[None]:
    """Time `name` where the writer calls it (an older tree without that function: not timed)."""
    original = getattr(store, name, None)
    if original is None:
        yield
        return
    setattr(store, name, _timed(spent, name, original))
    try:
        yield
    finally:
        setattr(store, name, original)


if __name__ == "__main__":
    cli()
