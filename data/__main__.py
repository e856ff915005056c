"""`python -m data upgrade`: create or upgrade the schema of DATABASE_URL."""

from __future__ import annotations

import typer
from sqlalchemy.engine import make_url

from data.db import make_engine
from data.migrate import current_revision, upgrade

app = typer.Typer(help="payops storage: schema migrations.", no_args_is_help=True, add_completion=False)


@app.command("upgrade")
def upgrade_command(
    database_url: str | None = typer.Option(
        None, help="Defaults to DATABASE_URL (an SQLite file under data/)."
    ),
) -> None:
    """Create the schema, or upgrade it to the newest migration (Alembic `upgrade head`)."""
    engine = make_engine(database_url)
    try:
        upgrade(engine)
    except Exception as error:  # one line, never a traceback with a connection string in it
        typer.echo(f"schema upgrade failed: {type(error).__name__}: {str(error).splitlines()[0]}", err=True)
        raise typer.Exit(1) from None
    shown = make_url(str(engine.url)).render_as_string(hide_password=True)
    typer.echo(f"schema at {current_revision(engine)} on {shown}")


@app.command("current")
def current_command(database_url: str | None = typer.Option(None)) -> None:
    """Print the schema revision the database is at."""
    typer.echo(current_revision(make_engine(database_url)) or "empty")


if __name__ == "__main__":
    app()
