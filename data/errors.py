"""Database errors described for logs: the error class and the constraint, never values.

A driver's message can quote the row it refused (PostgreSQL's `DETAIL: Key (email)=(…)`), and a
SQLAlchemy error quotes its statement; neither belongs in a log that operations read.
"""

from __future__ import annotations

import re

from sqlalchemy.exc import DBAPIError

__all__ = ["describe_error", "is_transient"]

# SQLite names the constraint (or the columns) and never the values: "UNIQUE constraint failed: t.c".
_SQLITE_CONSTRAINT = re.compile(r"^(?P<kind>[A-Z ]+ constraint failed)(?::\s*(?P<name>[\w., ]+))?")


# deadlock_detected, serialization_failure, lock_not_available: the transaction lost a race with
# another writer (another receiver replica, the sync) and succeeds when run again.
_TRANSIENT_SQLSTATES = frozenset({"40P01", "40001", "55P03"})


def is_transient(error: BaseException) -> bool:
    """True for an error that a retry of the whole transaction resolves (a deadlock, a busy SQLite)."""
    if not isinstance(error, DBAPIError) or error.orig is None:
        return False
    sqlstate = getattr(error.orig, "sqlstate", None)
    if sqlstate is not None:
        return sqlstate in _TRANSIENT_SQLSTATES
    return "database is locked" in str(error.orig)


def describe_error(error: BaseException) -> str:
    """`"IntegrityError (constraint uq_payments_id)"`, `"OperationalError"`, `"OverflowError"`."""
    if isinstance(error, DBAPIError) and error.orig is not None:
        original = error.orig
        name = f"{type(error).__name__}/{type(original).__name__}"
        diag = getattr(original, "diag", None)
        constraint = getattr(diag, "constraint_name", None) if diag is not None else None
        if constraint is None:
            match = _SQLITE_CONSTRAINT.match(str(original.args[0]) if original.args else "")
            if match:
                constraint = match.group("name") or match.group("kind")
        return f"{name} (constraint {constraint})" if constraint else name
    return type(error).__name__
