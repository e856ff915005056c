"""`python -m sync run | load | statement | status | schedule`: pull from Razorpay, backfill from files, import bank
statements, show how fresh the data is."""

from __future__ import annotations

import gc
import json
import logging
import re
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from data.cli import ExitCode, fail
from data.db import make_engine
from data.migrate import current_revision
from data.settings import get_settings
from data.sync_state import status_report
from sync.entities import ENTITY_NAMES, entity_spec
from sync.http import AuthenticationError, RazorpayUnavailable, make_client
from sync.load import load_files
from sync.pull import (
    REPORT_TIMEZONE,
    EntityCounts,
    LeaseHeld,
    LogProgress,
    SyncOptions,
    SyncResult,
    run_sync,
)
from sync.tiers import parse_tiers

__all__ = ["app", "parse_duration", "parse_moment"]

log = logging.getLogger("sync")

app = typer.Typer(
    help="Sync Razorpay payments, orders, refunds, settlements and settlement lines into the payops database.",
    no_args_is_help=True,
    add_completion=False,
)

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> timedelta:
    """ "90s", "15m", "6h", "3d", "1w" → timedelta."""
    match = _DURATION.match(text.lower())
    if not match:
        raise typer.BadParameter(f"{text!r} is not a duration like 90s, 15m, 6h, 3d or 1w")
    return timedelta(seconds=float(match.group(1)) * _UNIT_SECONDS[match.group(2)])


def parse_moment(text: str) -> datetime:
    """A bare date is the start of that Indian calendar day; a datetime without zone is UTC; digits are Unix seconds."""
    value = text.strip()
    if value.isdigit():
        return datetime.fromtimestamp(int(value), UTC)
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            return datetime(day.year, day.month, day.day, tzinfo=REPORT_TIMEZONE).astimezone(UTC)
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as error:
        raise typer.BadParameter(
            f"{text!r} is not a date (2026-11-01), an ISO datetime or Unix seconds"
        ) from error
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _fail(message: str, code: ExitCode = ExitCode.FAILED) -> typer.Exit:
    return fail(f"error: {message}", code)


def _entities(value: list[str] | None) -> list[str]:
    names: list[str] = []
    for item in value or []:
        names.extend(part.strip() for part in item.split(",") if part.strip())
    for name in names:
        if name not in ENTITY_NAMES:
            raise typer.BadParameter(f"unknown entity {name!r}; choose from {', '.join(ENTITY_NAMES)}")
    return names or list(ENTITY_NAMES)


def _engine() -> Engine:
    engine = make_engine(get_settings().database_url)
    try:
        revision = current_revision(engine)
    except SQLAlchemyError as error:
        raise _fail(
            f"cannot open the database: {type(error).__name__}: {str(error).splitlines()[0][:300]}"
        ) from None
    if revision is None:
        raise _fail("the database has no payops schema yet; run `python -m data upgrade` first")
    return engine


class _RichProgress:
    """A bar per entity, advancing over the created_at range (or days) being synced."""

    def __init__(self, bar: Progress) -> None:
        self.bar = bar
        self.tasks: dict[str, tuple[TaskID, datetime]] = {}

    def start(self, entity: str, begin: datetime, end: datetime) -> None:
        total = max(1.0, (end - begin).total_seconds())
        self.tasks[entity] = (self.bar.add_task(entity, total=total, rows=0), begin)

    def window_done(self, entity: str, window_end: datetime, counts: EntityCounts) -> None:
        task, begin = self.tasks[entity]
        self.bar.update(task, completed=(window_end - begin).total_seconds(), rows=counts.upserted)

    def finish(self, entity: str, counts: EntityCounts) -> None:
        task, _ = self.tasks[entity]
        total = self.bar.tasks[task].total or 1.0
        self.bar.update(task, completed=total, rows=counts.upserted)


def _summary(result: SyncResult) -> str:
    parts = [
        f"{name} {c.upserted}" + (f" ({c.quarantined} quarantined)" if c.quarantined else "")
        for name, c in result.counts.items()
    ]
    return f"sync run {result.run_id} {result.status}: " + ", ".join(parts)


@contextmanager
def _few_collections() -> Iterator[None]:
    """A run allocates a few dicts per record and frees them a window later; CPython's default gen-0
    threshold (700 allocations) runs the cycle collector every few records, each pass walking the
    young objects, and the full passes walk every module, class and function loaded. Records are
    acyclic dicts freed by reference counting; the few cycles a run makes (tracebacks, frames) wait
    for a later pass. So: freeze what is loaded, collect rarely, and put both back."""
    threshold = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        gc.unfreeze()


def _run_once(engine: Engine, options: SyncOptions) -> SyncResult:
    with _few_collections():
        return _run_with_progress(engine, options)


def _run_with_progress(engine: Engine, options: SyncOptions) -> SyncResult:
    settings = get_settings()
    client = make_client(settings)
    if sys.stderr.isatty():
        columns = (
            TextColumn("{task.description:<17}"),
            BarColumn(),
            TextColumn("{task.fields[rows]:>9,} rows"),
            TimeElapsedColumn(),
        )
        with Progress(*columns, transient=False) as bar:
            return run_sync(engine, client, options, progress=_RichProgress(bar))
    return run_sync(engine, client, options, progress=LogProgress())


def _evaluate_alerts(engine: Engine, until: datetime | None) -> None:
    """The alert rules see what this run brought in. A failure here is reported, not a failed sync."""
    from analytics.alerts_cli import evaluate_and_notify, summary_line

    try:
        # With --until the run pretends it is then: evaluate then too, without notifying anyone.
        evaluation, sent = evaluate_and_notify(engine, at=until or datetime.now(UTC), notify=until is None)
    except (SQLAlchemyError, ValueError) as error:
        log.error("alert evaluation after the sync failed: %s", str(error).splitlines()[0][:300])
        return
    typer.echo(summary_line(evaluation, sent))


@app.command()
def run(
    entities: Annotated[
        list[str] | None,
        typer.Option(
            "--entities", help=f"Entities to sync (repeat or comma-separate): {', '.join(ENTITY_NAMES)}."
        ),
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="Re-read from this date/time instead of checkpoint − look-back.")
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="Treat this date/time as 'now' (windows end a safety lag before it).")
    ] = None,
    lookback: Annotated[
        str | None, typer.Option(help="Trailing window re-read every run, e.g. 3d (default: per entity).")
    ] = None,
    watch: Annotated[
        str | None, typer.Option(help="Repeat every interval, e.g. 15m, until interrupted.")
    ] = None,
    safety_lag: Annotated[str, typer.Option(help="How far before 'now' the last window ends.")] = "2m",
    wait: Annotated[
        bool,
        typer.Option(
            "--wait/--no-wait",
            help="When another run is syncing one of these entities: wait for it, or exit 4 at once.",
        ),
    ] = False,
) -> None:
    """Pull every chosen entity from the Razorpay API (closed created_at windows, resumable)."""
    options = SyncOptions(
        entities=_entities(entities),
        since=parse_moment(since) if since else None,
        until=parse_moment(until) if until else None,
        lookback=parse_duration(lookback) if lookback else None,
        safety_lag=parse_duration(safety_lag),
        country_notes_key=get_settings().country_notes_key,
        trigger="watch" if watch else "cli",
        lookback_tiers=parse_tiers(get_settings().sync_lookback_tiers),
        wait=wait,
    )
    interval = parse_duration(watch) if watch else None
    engine = _engine()
    while True:
        try:
            result = _run_once(engine, options)
            typer.echo(_summary(result))
            _evaluate_alerts(engine, options.until)
        except AuthenticationError as error:
            raise _fail(str(error), ExitCode.AUTH_REJECTED) from None
        except LeaseHeld as held:
            if interval is None:
                raise _fail(str(held), ExitCode.BUSY) from None
            log.warning("%s; trying again in %s", held, watch)
        except (RazorpayUnavailable, SQLAlchemyError, OSError, ValueError) as error:
            if interval is None:
                raise _fail(
                    f"sync failed: {type(error).__name__}: {str(error).splitlines()[0][:300]}"
                ) from None
            log.error("sync failed, retrying in %s: %s", watch, error)
        if interval is None:
            return
        time.sleep(interval.total_seconds())


@app.command()
def load(
    files: Annotated[
        list[Path], typer.Argument(help="JSON files: a list response, one entity, an array, or NDJSON.")
    ],
    entity: Annotated[str, typer.Option("--entity", help=f"One of {', '.join(ENTITY_NAMES)}.")],
) -> None:
    """Backfill from exported files through the same normalisers and upsert; bad records are quarantined."""
    if entity not in ENTITY_NAMES:
        raise _fail(f"unknown entity {entity!r}; choose from {', '.join(ENTITY_NAMES)}", ExitCode.BAD_INPUT)
    missing = [str(path) for path in files if not path.is_file()]
    if missing:
        raise _fail(f"no such file: {', '.join(missing)}", ExitCode.BAD_INPUT)
    try:
        result = load_files(_engine(), entity, files, country_notes_key=get_settings().country_notes_key)
    except SQLAlchemyError as error:
        raise _fail(
            f"cannot write to the database ({type(error).__name__}); is it upgraded (python -m data upgrade)?"
        ) from None
    typer.echo(
        f"loaded {result.upserted} {entity} from {result.files} file(s); "
        f"{result.quarantined} record(s) quarantined"
    )
    if result.unreadable:
        raise _fail(f"{len(result.unreadable)} file(s) not loaded: " + "; ".join(result.unreadable))


@app.command()
def statement(
    files: Annotated[list[Path], typer.Argument(help="Bank statement files (CSV, MT940 or camt.053 XML).")],
    fmt: Annotated[
        str | None,
        typer.Option("--format", help="csv | mt940 | camt053 (default: detected from the content)."),
    ] = None,
    preset: Annotated[
        str | None,
        typer.Option(help="CSV layout: hdfc | icici | generic | custom (default: BANK_CSV_PRESET)."),
    ] = None,
) -> None:
    """Import bank statements: every line kept with file, line number and raw text; bad lines quarantined.

    Re-importing a file changes nothing. Matching to settlements happens in `python -m analytics reconcile`.
    """
    from sync.statement_import import import_statement
    from sync.statements import FORMATS, StatementError

    if fmt is not None and fmt not in FORMATS:
        raise _fail(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}", ExitCode.BAD_INPUT)
    missing = [str(path) for path in files if not path.is_file()]
    if missing:
        raise _fail(f"no such file: {', '.join(missing)}", ExitCode.BAD_INPUT)
    engine = _engine()
    settings = get_settings()
    failed: list[str] = []
    for path in files:
        try:
            result = import_statement(
                engine, path.read_bytes(), file_name=path.name, settings=settings, fmt=fmt, preset=preset
            )
        except StatementError as error:
            failed.append(f"{path.name}: {error}")
            continue
        except SQLAlchemyError as error:
            raise _fail(
                f"cannot write to the database ({type(error).__name__}); is it upgraded (python -m data upgrade)?"
            ) from None
        typer.echo(result.summary())
    if failed:
        raise _fail(f"{len(failed)} file(s) not imported: " + "; ".join(failed))


def status_rows(engine: Engine, now: datetime | None = None) -> list[dict[str, Any]]:
    """Per entity: checkpoint, lag, row count, quarantined records and the last run that touched it."""
    return status_report(engine, {name: entity_spec(name).model for name in ENTITY_NAMES}, now)


def _lag_text(seconds: int | None) -> str:
    if seconds is None:
        return "never synced"
    if seconds < 3600:
        return f"{seconds // 60}m"
    if seconds < 86400:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 86400}d{seconds % 86400 // 3600:02d}h"


@app.command()
def status(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Per entity: checkpoint, last run, row count and lag."""
    try:
        rows = status_rows(_engine())
    except SQLAlchemyError as error:
        raise _fail(
            f"cannot read the database ({type(error).__name__}); run `python -m data upgrade` first"
        ) from None
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("entity", "checkpoint (UTC)", "lag", "rows", "quarantined", "last run")
    for row in rows:
        last = row["last_run"]
        table.add_row(
            row["entity"],
            (row["checkpoint"] or "—")[:19],
            _lag_text(row["lag_seconds"]),
            f"{row['rows']:,}",
            str(row["quarantined"]),
            "—" if last is None else f"#{last['id']} {last['status']} {last['started_at'][:19]}",
        )
    Console().print(table)


@app.command()
def schedule(
    once: Annotated[
        bool, typer.Option(help="Run every enabled job once and exit (for cron, systemd timers, CronJobs).")
    ] = False,
) -> None:
    """Run the sync, alert evaluation, reconcile and (with a retention set) the personal-data purge on the
    intervals in the settings (PAYOPS_SCHEDULE_*_SECONDS, PAYOPS_PII_RETENTION_DAYS)."""
    from sync.schedule import run_jobs_once, run_scheduler, scheduled_jobs

    engine = _engine()
    jobs = scheduled_jobs(get_settings(), engine)
    if not jobs:
        raise _fail("no job enabled: every PAYOPS_SCHEDULE_*_SECONDS is 0", ExitCode.BAD_INPUT)
    if once:
        if not run_jobs_once(jobs):
            raise _fail("a scheduled job failed (see the log)")
        return
    run_scheduler(jobs, one_at_a_time=engine.dialect.name == "sqlite")


def main(argv: Sequence[str] | None = None) -> None:
    """`python -m sync` and the `payops-sync` console script."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # The SDK's own connection-retry chatter goes to stdout via print; urllib3 retries log at WARNING.
    logging.getLogger("urllib3").setLevel(logging.ERROR)
    app(args=list(argv) if argv is not None else None)
