"""The local users file (`.streamlit/users.toml`): names, roles and bcrypt password hashes.

Used when no OIDC provider is configured; with OIDC, the same file maps a signed-in email to a role
(entries without a password hash). Never holds a plain password.
"""

from __future__ import annotations

import re
import secrets
import tomllib
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import bcrypt

from dashboard.roles import Role
from data.settings import get_settings

USERS_FILE_ENV = "PAYOPS_USERS_FILE"  # read through data.settings (field payops_users_file)

# bcrypt only looks at the first 72 bytes; longer passwords would be silently truncated.
MAX_PASSWORD_BYTES = 72
MIN_PASSWORD_CHARS = 8
_NAME = re.compile(r"^[A-Za-z0-9._@+-]{1,128}$")
DEFAULT_ROUNDS = 12

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


def bcrypt_cost(password_hash: str) -> int | None:
    """The cost factor of a bcrypt hash (`$2b$12$…` → 12), or None if it is not one."""
    parts = password_hash.split("$")
    return int(parts[2]) if len(parts) > 3 and parts[2].isdigit() else None


@lru_cache(maxsize=8)
def _dummy_hash(rounds: int) -> bytes:
    return bcrypt.hashpw(b"payops-no-such-user", bcrypt.gensalt(rounds=rounds))


def dummy_hash_for(records: dict[str, UserRecord]) -> bytes:
    """What an unknown name is checked against: a hash of the cost most of the real ones have, so a
    name that does not exist costs the same bcrypt work as one that does (timing reveals no names)."""
    costs = Counter(
        cost
        for record in records.values()
        if record.password_hash and (cost := bcrypt_cost(record.password_hash))
    )
    return _dummy_hash(costs.most_common(1)[0][0] if costs else DEFAULT_ROUNDS)


def verify_password(name: str, password: str, *, path: Path | None = None) -> UserRecord | None:
    """The user when name and password match; None otherwise (same cost either way)."""
    records = load_users(path)
    record = records.get(name)
    encoded = password.encode("utf-8")[:MAX_PASSWORD_BYTES]
    if record is None or not record.password_hash:
        bcrypt.checkpw(encoded, dummy_hash_for(records))
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
