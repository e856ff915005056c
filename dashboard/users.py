"""The local users file (`.streamlit/users.toml`): names, roles and bcrypt password hashes.

Used when no OIDC provider is configured; with OIDC, the same file maps a signed-in email to a role
(entries without a password hash). Never holds a plain password.
"""

from __future__ import annotations

import re
import secrets
import tomllib
from dataclasses import dataclass
from pathlib import Path

import bcrypt

from dashboard.roles import Role
from data.settings import get_settings

USERS_FILE_ENV = "PAYOPS_USERS_FILE"  # read through data.settings (field payops_users_file)

# bcrypt only looks at the first 72 bytes; longer passwords would be silently truncated.
MAX_PASSWORD_BYTES = 72
MIN_PASSWORD_CHARS = 8
_NAME = re.compile(r"^[A-Za-z0-9._@+-]{1,128}$")
# Verifying an unknown name still costs one bcrypt check, so timing does not reveal which names exist.
_DUMMY_HASH = bcrypt.hashpw(b"payops-no-such-user", bcrypt.gensalt(rounds=4))

DEMO_USERS: dict[str, Role] = {
    "finance": Role.FINANCE,
    "operations": Role.OPERATIONS,
    "manager": Role.MANAGER,
    "admin": Role.ADMIN,
}


class UsersFileError(ValueError):
    """A bad name, role, password or users file; the message is one line for the CLI."""


@dataclass(frozen=True)
class UserRecord:
    name: str
    role: Role
    password_hash: str | None  # None: signs in through OIDC only


def users_file() -> Path:
    return get_settings().payops_users_file


def load_users(path: Path | None = None) -> dict[str, UserRecord]:
    path = path or users_file()
    if not path.exists():
        return {}
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise UsersFileError(f"{path} is not valid TOML: {error}") from None
    records: dict[str, UserRecord] = {}
    for name, entry in document.get("users", {}).items():
        try:
            role = Role(entry["role"])
        except (KeyError, ValueError):
            raise UsersFileError(f"{path}: user {name!r} has no valid role") from None
        records[name] = UserRecord(name=name, role=role, password_hash=entry.get("password_hash"))
    return records


def save_users(records: dict[str, UserRecord], path: Path | None = None) -> None:
    path = path or users_file()
    lines = ["# payops dashboard users. Managed by `python -m dashboard users ...`; hashes are bcrypt.", ""]
    for record in sorted(records.values(), key=lambda r: r.name):
        # Names are restricted to characters that need no escaping inside a TOML basic string.
        lines.append(f'[users."{record.name}"]')
        lines.append(f'role = "{record.role.value}"')
        if record.password_hash:
            lines.append(f'password_hash = "{record.password_hash}"')
        lines.append("")
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text("\n".join(lines), encoding="utf-8")
    temporary.chmod(0o600)
    temporary.replace(path)


def hash_password(password: str, rounds: int = 12) -> str:
    encoded = password.encode("utf-8")
    if len(password) < MIN_PASSWORD_CHARS:
        raise UsersFileError(f"password must be at least {MIN_PASSWORD_CHARS} characters")
    if len(encoded) > MAX_PASSWORD_BYTES:
        raise UsersFileError(f"password must be at most {MAX_PASSWORD_BYTES} bytes (bcrypt's limit)")
    return bcrypt.hashpw(encoded, bcrypt.gensalt(rounds=rounds)).decode("ascii")


def add_user(
    name: str,
    role: Role | str,
    password: str | None,
    *,
    path: Path | None = None,
    rounds: int = 12,
) -> UserRecord:
    """Add or replace a user. `password=None` makes an OIDC-only entry (role mapping for an email)."""
    if not _NAME.fullmatch(name):
        raise UsersFileError("name may use letters, digits and . _ @ + - only (1-128 characters)")
    try:
        role = Role(role)
    except ValueError:
        raise UsersFileError(
            f"unknown role {role!r}; choose one of {', '.join(r.value for r in Role)}"
        ) from None
    records = load_users(path)
    record = UserRecord(
        name=name, role=role, password_hash=hash_password(password, rounds) if password else None
    )
    records[name] = record
    save_users(records, path)
    return record


def remove_user(name: str, *, path: Path | None = None) -> None:
    records = load_users(path)
    if name not in records:
        raise UsersFileError(f"no user named {name!r}")
    del records[name]
    save_users(records, path)


def verify_password(name: str, password: str, *, path: Path | None = None) -> UserRecord | None:
    """The user when name and password match; None otherwise (same cost either way)."""
    record = load_users(path).get(name)
    encoded = password.encode("utf-8")[:MAX_PASSWORD_BYTES]
    if record is None or not record.password_hash:
        bcrypt.checkpw(encoded, _DUMMY_HASH)
        return None
    if bcrypt.checkpw(encoded, record.password_hash.encode("ascii")):
        return record
    return None


def create_demo_users(*, path: Path | None = None, rounds: int = 12) -> dict[str, tuple[Role, str]]:
    """One user per role with a fresh random password; returns name → (role, password) to print once."""
    created: dict[str, tuple[Role, str]] = {}
    for name, role in DEMO_USERS.items():
        password = secrets.token_urlsafe(9)
        add_user(name, role, password, path=path, rounds=rounds)
        created[name] = (role, password)
    return created
