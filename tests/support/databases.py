"""Databases per backend for tests and benchmarks: an SQLite file, or a fresh PostgreSQL database, empty
or copied from a template that was migrated once.

PAYOPS_TEST_BACKENDS (default "sqlite,postgresql") picks the backends; CI runs both.
PAYOPS_TEST_PG_URL points at the PostgreSQL server (default the local one, trust auth).
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import create_engine, text

from data.db import make_engine
from data.migrate import upgrade

PG_ADMIN_URL = os.environ.get("PAYOPS_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
BACKENDS = [b.strip() for b in os.environ.get("PAYOPS_TEST_BACKENDS", "sqlite,postgresql").split(",") if b]

__all__ = [
    "BACKENDS",
    "PG_ADMIN_URL",
    "MigratedDatabase",
    "MigratedTemplates",
    "create_pg_database",
    "drop_database",
    "drop_pg_database",
    "new_database_url",
]

# migrated_database(backend, directory) → the URL of a fresh database at the newest migration.
MigratedDatabase = Callable[[str, Path], str]


def _admin_execute(statement: str) -> None:
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(statement))
    admin.dispose()


def _pg_url(name: str) -> str:
    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def create_pg_database(template: str | None = None) -> str:
    name = f"payops_test_{uuid.uuid4().hex[:12]}"
    # Names are generated here, never user input; CREATE DATABASE cannot take bound parameters.
    _admin_execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    return _pg_url(name)


def drop_pg_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    _admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def drop_database(backend: str, url: str) -> None:
    if backend == "postgresql":
        drop_pg_database(url)


def new_database_url(backend: str, directory: Path) -> str:
    """An empty database of the given backend (not yet migrated)."""
    if backend == "sqlite":
        return f"sqlite:///{directory / f'payops-{uuid.uuid4().hex[:8]}.db'}"
    if backend == "postgresql":
        return create_pg_database()
    raise ValueError(f"unknown backend {backend!r}")


class MigratedTemplates:
    """Per session (per xdist worker): each backend migrated once, then copied for every database."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._sqlite: Path | None = None
        self._pg_template: str | None = None

    def new_database_url(self, backend: str, directory: Path) -> str:
        """A database of `backend` at the newest migration, made from the template."""
        if backend == "sqlite":
            if self._sqlite is None:
                self._sqlite = self.directory / "template.db"
                engine = make_engine(f"sqlite:///{self._sqlite}")
                upgrade(engine)
                engine.dispose()  # closing the last connection checkpoints the WAL into the file
            target = directory / f"payops-{uuid.uuid4().hex[:8]}.db"
            shutil.copyfile(self._sqlite, target)
            return f"sqlite:///{target}"
        if backend == "postgresql":
            if self._pg_template is None:
                worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
                name = f"payops_template_{worker}_{uuid.uuid4().hex[:8]}"
                _admin_execute(f'CREATE DATABASE "{name}"')
                self._pg_template = name
                engine = make_engine(_pg_url(name))
                upgrade(engine)
                engine.dispose()  # CREATE DATABASE … TEMPLATE needs the template without connections
            return create_pg_database(template=self._pg_template)
        raise ValueError(f"unknown backend {backend!r}")

    def drop(self) -> None:
        if self._pg_template is not None:
            drop_pg_database(_pg_url(self._pg_template))
