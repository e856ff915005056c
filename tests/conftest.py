"""Shared fixtures: a fresh, migrated database on each backend (SQLite file and real PostgreSQL).

The backends and the PostgreSQL server are chosen as tests/support/databases.py describes.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from data.db import make_engine
from data.migrate import upgrade
from tests.support.databases import BACKENDS, drop_pg_database, new_database_url

pytest_plugins = ["tests.support.sandbox"]

# Importing the dashboard's cached functions outside `streamlit run` makes Streamlit warn once per
# function that no runtime exists; AppTest provides one, so the warnings are only noise here.
os.environ.setdefault("STREAMLIT_LOGGER_LEVEL", "error")


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def empty_database_url(backend: str, tmp_path: Path) -> Iterator[str]:
    url = new_database_url(backend, tmp_path)
    yield url
    if backend == "postgresql":
        drop_pg_database(url)


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
