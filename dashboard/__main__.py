"""`python -m dashboard`: manage the dashboard's local users (bcrypt hashes in .streamlit/users.toml)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dashboard.roles import Role
from dashboard.users import UsersFileError, add_user, create_demo_users, load_users, remove_user, users_file
from data.cli import ExitCode, fail

app = typer.Typer(help="payops dashboard administration.", no_args_is_help=True, add_completion=False)
users_app = typer.Typer(
    help="Local dashboard users (used when no OIDC provider is configured).", no_args_is_help=True
)
app.add_typer(users_app, name="users")

UsersFile = Annotated[
    Path | None,
    typer.Option("--file", help="Users file (default: $PAYOPS_USERS_FILE or .streamlit/users.toml)."),
]


@users_app.command("add")
def users_add(
    name: Annotated[str, typer.Argument(help="Sign-in name (or the OIDC email, with --oidc).")],
    role: Annotated[str, typer.Option("--role", help="finance | operations | manager | admin")],
    oidc: Annotated[
        bool, typer.Option("--oidc", help="No password: the name is an OIDC email mapped to a role.")
    ] = False,
    password: Annotated[
        str | None,
        typer.Option("--password", help="Prompted (hidden, twice) when not given.", show_default=False),
    ] = None,
    file: UsersFile = None,
) -> None:
    """Add a user, or replace the role/password of an existing one."""
    if not oidc and password is None:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        record = add_user(name, role, None if oidc else password, path=file)
    except UsersFileError as error:
        raise fail(f"cannot add user: {error}", ExitCode.BAD_INPUT) from None
    how = "OIDC sign-in" if oidc else "password sign-in"
    typer.echo(f"user {record.name} ({record.role.value}, {how}) saved to {file or users_file()}")


@users_app.command("remove")
def users_remove(name: Annotated[str, typer.Argument()], file: UsersFile = None) -> None:
    """Remove a user."""
    try:
        remove_user(name, path=file)
    except UsersFileError as error:
        raise fail(f"cannot remove user: {error}", ExitCode.BAD_INPUT) from None
    typer.echo(f"user {name} removed")


@users_app.command("list")
def users_list(file: UsersFile = None) -> None:
    """List users and their roles (never their hashes)."""
    try:
        records = load_users(file)
    except UsersFileError as error:
        raise fail(str(error), ExitCode.BAD_INPUT) from None
    if not records:
        typer.echo("no users yet: run `python -m dashboard users add NAME --role ROLE`")
        return
    for record in sorted(records.values(), key=lambda r: r.name):
        typer.echo(f"{record.name}\t{record.role.value}\t{'password' if record.password_hash else 'oidc'}")


@app.command("demo-users")
def demo_users(file: UsersFile = None) -> None:
    """Create one user per role with fresh random passwords and print them (demo only)."""
    try:
        created = create_demo_users(path=file)
    except UsersFileError as error:
        raise fail(f"cannot create demo users: {error}", ExitCode.BAD_INPUT) from None
    typer.echo("Dashboard demo users (name / password / role):")
    for name, (role, password) in created.items():
        typer.echo(f"  {name:<11} {password:<14} {role.value}")


@app.command("roles")
def roles() -> None:
    """Print which pages each role sees."""
    from dashboard.roles import pages_for

    for role in Role:
        typer.echo(f"{role.value}: {', '.join(page.title for page in pages_for(role))}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
