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
import re
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

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


# A test's backend, from its parameter id: `test_x[postgresql]`, `test_x[sqlite-finance]`, `test_x[finance-sqlite]`.
_BACKEND_IN_ID = re.compile(r"[\[-](sqlite|postgresql)[\]-]")


def work_unit(nodeid: str) -> str:
    """The unit xdist gives one worker: a module's tests on one backend (module-scoped fixtures per
    backend are then built once, and a module's SQLite and PostgreSQL halves run side by side)."""
    module = nodeid.split("::", 1)[0]
    backend = _BACKEND_IN_ID.search(nodeid)
    return f"{module}::{backend.group(1)}" if backend else module


# A browser module (one Streamlit server, several pages in Chromium) takes about this long.
BROWSER_MODULE_SECONDS = 60.0


def _weight(item: pytest.Item) -> float:
    """Lower runs first: long end-to-end tests (the longest first, by the `slow(seconds=…)` estimate
    some carry), then browser tests, then the rest. Starting the longest units first keeps both
    workers busy to the end instead of one finishing alone."""
    slow = item.get_closest_marker("slow")
    if slow is not None:
        return -float(slow.kwargs.get("seconds", 0))
    if item.get_closest_marker("browser"):
        return -BROWSER_MODULE_SECONDS
    return 1


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Order the collection by work unit, heaviest units first, keeping each unit's own order (so its
    module-scoped fixtures are set up once). PostgreSQL halves go before SQLite ones: they take longer."""
    first_seen: dict[str, int] = {}
    weight: dict[str, float] = {}
    for index, item in enumerate(items):
        unit = work_unit(item.nodeid)
        first_seen.setdefault(unit, index)
        weight[unit] = min(weight.get(unit, 1), _weight(item))

    def order(item: pytest.Item) -> tuple[float, int, int]:
        unit = work_unit(item.nodeid)
        return (weight[unit], 0 if unit.endswith("::postgresql") else 1, first_seen[unit])

    items.sort(key=order)


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Under `--dist loadscope`: work units as `work_unit` names them, handed out in collection order
    (which `pytest_collection_modifyitems` made heaviest first) rather than by test count."""
    if config.getvalue("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class BackendUnits(LoadScopeScheduling):  # type: ignore[misc]  # xdist ships no types
        def _split_scope(self, nodeid: str) -> str:
            return work_unit(nodeid)

    config.option.loadscopereorder = False
    return BackendUnits(config, log)


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
