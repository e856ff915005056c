"""Empty databases per backend for tests and benchmarks: an SQLite file, or a fresh PostgreSQL database.

PAYOPS_TEST_BACKENDS (default "sqlite,postgresql") picks the backends; CI runs both.
PAYOPS_TEST_PG_URL points at the PostgreSQL server (default the local one, trust auth).
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from sqlalchemy import create_engine, text

PG_ADMIN_URL = os.environ.get("PAYOPS_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
BACKENDS = [b.strip() for b in os.environ.get("PAYOPS_TEST_BACKENDS", "sqlite,postgresql").split(",") if b]

__all__ = ["BACKENDS", "PG_ADMIN_URL", "create_pg_database", "drop_pg_database", "new_database_url"]


def create_pg_database() -> str:
    name = f"payops_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def drop_pg_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def new_database_url(backend: str, directory: Path) -> str:
    """An empty database of the given backend (not yet migrated)."""
    if backend == "sqlite":
        return f"sqlite:///{directory / f'payops-{uuid.uuid4().hex[:8]}.db'}"
    if backend == "postgresql":
        return create_pg_database()
    raise ValueError(f"unknown backend {backend!r}")
