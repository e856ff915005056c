"""Shared fixtures: a migrated database on each backend (SQLite file and real PostgreSQL), and one pinned
clock for the whole session (tests/fixtures/clock.py).

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
import shutil
import uuid
from collections.abc import Callable, Generator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from data.db import make_engine
from data.migrate import upgrade
from tests.fixtures.clock import TEST_NOW, pinned, subprocess_pythonpath

pytest_plugins = ["tests.fixtures.sandbox"]

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# Importing the dashboard's cached functions outside `streamlit run` makes Streamlit warn once per
# function that no runtime exists; AppTest provides one, so the warnings are only noise here.
os.environ.setdefault("STREAMLIT_LOGGER_LEVEL", "error")
# Every subprocess a test starts (they all inherit os.environ) finds the project and the pinned clock.
os.environ["PYTHONPATH"] = subprocess_pythonpath(str(PROJECT_ROOT))

PG_ADMIN_URL = os.environ.get("PAYOPS_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
BACKENDS = [b.strip() for b in os.environ.get("PAYOPS_TEST_BACKENDS", "sqlite,postgresql").split(",") if b]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(
    item: pytest.Item, nextitem: pytest.Item | None
) -> Generator[None, object, object]:
    """Each test (its setup, call and teardown) starts at the session's pinned instant."""
    with pinned(TEST_NOW):
        return (yield)


def _admin_execute(statement: str) -> None:
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(statement))
    admin.dispose()


def _pg_url(name: str) -> str:
    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def _create_pg_database(template: str | None = None) -> str:
    name = f"payops_test_{uuid.uuid4().hex[:12]}"
    # Names are generated here, never user input; CREATE DATABASE cannot take bound parameters.
    _admin_execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    return _pg_url(name)


def _drop_pg_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    _admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def new_database_url(backend: str, directory: Path) -> str:
    """An empty database of the given backend (not yet migrated)."""
    if backend == "sqlite":
        return f"sqlite:///{directory / f'payops-{uuid.uuid4().hex[:8]}.db'}"
    if backend == "postgresql":
        return _create_pg_database()
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
            return _create_pg_database(template=self._pg_template)
        raise ValueError(f"unknown backend {backend!r}")

    def drop(self) -> None:
        if self._pg_template is not None:
            _drop_pg_database(_pg_url(self._pg_template))


@pytest.fixture(scope="session")
def migrated_templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MigratedTemplates]:
    templates = MigratedTemplates(tmp_path_factory.mktemp("templates"))
    yield templates
    templates.drop()


MigratedDatabase = Callable[[str, Path], str]


@pytest.fixture(scope="session")
def migrated_database(migrated_templates: MigratedTemplates) -> MigratedDatabase:
    """migrated_database(backend, directory) → the URL of a fresh database at the newest migration."""
    return migrated_templates.new_database_url


def drop_database(backend: str, url: str) -> None:
    if backend == "postgresql":
        _drop_pg_database(url)


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
