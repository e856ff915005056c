"""Shared fixtures: a fresh, migrated database on each backend (SQLite file and real PostgreSQL).

PAYOPS_TEST_BACKENDS (default "sqlite,postgresql") picks the backends; CI runs both.
PAYOPS_TEST_PG_URL points at the PostgreSQL server (default the local one, trust auth).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from data.db import make_engine
from data.migrate import upgrade

pytest_plugins = ["tests.fixtures.sandbox"]

# Importing the dashboard's cached functions outside `streamlit run` makes Streamlit warn once per
# function that no runtime exists; AppTest provides one, so the warnings are only noise here.
os.environ.setdefault("STREAMLIT_LOGGER_LEVEL", "error")

PG_ADMIN_URL = os.environ.get("PAYOPS_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
BACKENDS = [b.strip() for b in os.environ.get("PAYOPS_TEST_BACKENDS", "sqlite,postgresql").split(",") if b]


def _create_pg_database() -> str:
    name = f"payops_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def _drop_pg_database(url: str) -> None:
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
        return _create_pg_database()
    raise ValueError(f"unknown backend {backend!r}")


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def empty_database_url(backend: str, tmp_path: Path) -> Iterator[str]:
    url = new_database_url(backend, tmp_path)
    yield url
    if backend == "postgresql":
        _drop_pg_database(url)


@pytest.fixture
def database_url(empty_database_url: str) -> str:
    """A fresh database on the parametrised backend, upgraded to the newest migration."""
    engine = make_engine(empty_database_url)
    upgrade(engine)
    engine.dispose()
    return empty_database_url


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()
