"""Shared fixtures: a migrated database on each backend (SQLite file and real PostgreSQL), and one pinned
clock for the whole session (tests/support/clock.py).

PAYOPS_TEST_BACKENDS (default "sqlite,postgresql") picks the backends; CI runs both.
PAYOPS_TEST_PG_URL points at the PostgreSQL server (default the local one, trust auth).
PAYOPS_TEST_NOW (ISO 8601 with offset) is the instant every test starts at (default a fixed midday IST).

Migrations run once per session and backend into a template (SQLite: a migrated file that each test
copies; PostgreSQL: a template database each test's database is created from). Under pytest-xdist each
worker builds its own template, so workers never wait on each other. tests/data/test_schema.py keeps
the one test per backend that upgrades from empty.
"""

from __future__ import annotations

import os
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from data.db import make_engine
from tests.support.clock import TEST_NOW, pinned, subprocess_pythonpath
from tests.support.databases import (
    BACKENDS,
    MigratedDatabase,
    MigratedTemplates,
    drop_database,
    new_database_url,
)

pytest_plugins = ["tests.support.sandbox"]

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# Importing the dashboard's cached functions outside `streamlit run` makes Streamlit warn once per
# function that no runtime exists; AppTest provides one, so the warnings are only noise here.
os.environ.setdefault("STREAMLIT_LOGGER_LEVEL", "error")
# Every subprocess a test starts (they all inherit os.environ) runs on the pinned clock.
os.environ["PYTHONPATH"] = subprocess_pythonpath(str(PROJECT_ROOT))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(
    item: pytest.Item, nextitem: pytest.Item | None
) -> Generator[None, object, object]:
    """Each test (its setup, call and teardown) starts at the session's pinned instant."""
    with pinned(TEST_NOW):
        return (yield)


@pytest.fixture(scope="session")
def migrated_templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MigratedTemplates]:
    templates = MigratedTemplates(tmp_path_factory.mktemp("templates"))
    yield templates
    templates.drop()


@pytest.fixture(scope="session")
def migrated_database(migrated_templates: MigratedTemplates) -> MigratedDatabase:
    """migrated_database(backend, directory) → the URL of a fresh database at the newest migration."""
    return migrated_templates.new_database_url


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def empty_database_url(backend: str, tmp_path: Path) -> Iterator[str]:
    url = new_database_url(backend, tmp_path)
    yield url
    drop_database(backend, url)


@pytest.fixture
def database_url(backend: str, tmp_path: Path, migrated_database: MigratedDatabase) -> Iterator[str]:
    """A fresh database on the parametrised backend, at the newest migration (copied from the template)."""
    url = migrated_database(backend, tmp_path)
    yield url
    drop_database(backend, url)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()
