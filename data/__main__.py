"""`python -m data upgrade`: create or upgrade the schema of DATABASE_URL."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated

import typer
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from data.cli import ExitCode, fail
from data.db import make_engine
from data.errors import describe_error
from data.migrate import current_revision, upgrade
from data.retention import purge_personal_data

app = typer.Typer(
    help="payops storage: schema migrations, retention.", no_args_is_help=True, add_completion=False
)

DatabaseUrl = Annotated[
    str | None, typer.Option(help="Defaults to DATABASE_URL (an SQLite file under data/).")
]


def _engine(database_url: str | None) -> Engine:
    try:
        return make_engine(database_url)
    except ArgumentError as error:  # a malformed URL; never echo it, it may hold a password
        raise fail(f"bad database URL: {type(error).__name__}", ExitCode.BAD_INPUT) from None


@app.command("upgrade")
def upgrade_command(database_url: DatabaseUrl = None) -> None:
    """Create the schema, or upgrade it to the newest migration (Alembic `upgrade head`)."""
    engine = _engine(database_url)
    try:
        upgrade(engine)
    except Exception as error:  # one line, never a traceback with a connection string in it
        raise fail(
            f"schema upgrade failed: {type(error).__name__}: {str(error).splitlines()[0]}", ExitCode.FAILED
        ) from None
    shown = make_url(str(engine.url)).render_as_string(hide_password=True)
    typer.echo(f"schema at {current_revision(engine)} on {shown}")


@app.command("current")
def current_command(database_url: DatabaseUrl = None) -> None:
    """Print the schema revision the database is at."""
    try:
        revision = current_revision(_engine(database_url))
    except SQLAlchemyError as error:
        raise fail(f"cannot read the database: {type(error).__name__}", ExitCode.FAILED) from None
    typer.echo(revision or "empty")


@app.command("purge-pii")
def purge_pii_command(
    older_than: Annotated[
        str, typer.Option("--older-than", help="Purge personal fields of records older than this, e.g. 180d.")
    ],
    database_url: DatabaseUrl = None,
) -> None:
    """Remove email, phone, notes and names from payments, orders and webhook payloads older than
    --older-than, keeping every amount, id and aggregate. Audited; running it again changes nothing."""
    match = re.fullmatch(r"\s*(\d+)\s*d\s*", older_than)
    if match is None or int(match.group(1)) < 1:
        raise fail(f"--older-than must be whole days like 180d, not {older_than!r}", ExitCode.BAD_INPUT)
    engine = _engine(database_url)
    try:
        result = purge_personal_data(engine, older_than=timedelta(days=int(match.group(1))), actor="cli")
    except SQLAlchemyError as error:
        raise fail(f"purge failed: {describe_error(error)}", ExitCode.FAILED) from None
    typer.echo(
        f"purged personal fields before {result.cutoff.isoformat()}: {result.payments} payments, "
        f"{result.orders} orders, {result.webhook_events} webhook events"
    )


def main() -> None:
    app()


if __name__ == "__main__":
    main()
