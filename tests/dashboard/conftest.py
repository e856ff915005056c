"""Dashboard fixtures: a seeded database per backend (shared by a module's tests), a users file, and an
AppTest factory that signs a role in and points the app at that database."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import streamlit as st
from sqlalchemy import Engine
from streamlit.testing.v1 import AppTest

from analytics.reconcile import reconcile
from dashboard.auth import SESSION_KEY, SignedInUser
from dashboard.roles import Role
from dashboard.users import USERS_FILE_ENV, add_user
from data.db import make_engine
from data.settings import get_settings
from tests.support.clock import TEST_NOW
from tests.support.dashboard_seed import seed_dashboard_database
from tests.support.databases import BACKENDS, MigratedDatabase, drop_database

APP = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"
PASSWORD = "correct horse battery"


def page_path(key: str) -> str:
    """A page file relative to the app script, as AppTest.switch_page wants it."""
    return f"../pages/{key}.py"


class Seeded:
    def __init__(self, url: str, engine: Engine, facts: dict[str, Any]) -> None:
        self.url, self.engine, self.facts = url, engine, facts


def _point_app_at(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", url)
    get_settings.cache_clear()
    st.cache_data.clear()


def seeded_database(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    migrated_database: MigratedDatabase,
    name: str,
    *,
    plant: Callable[[Engine], None] | None = None,
    reconciled: bool = False,
) -> Iterator[Seeded]:
    """The body of a module-scoped `seeded` fixture parametrised over BACKENDS: the dashboard's seed data,
    then `plant`'s extra rows, reconciled if asked; the database is dropped after the module."""
    backend = str(request.param)
    url = migrated_database(backend, tmp_path_factory.mktemp(name))
    engine = make_engine(url)
    facts = seed_dashboard_database(engine, now=TEST_NOW)
    if plant is not None:
        plant(engine)
    if reconciled:
        reconcile(engine, now=TEST_NOW)
    yield Seeded(url, engine, facts)
    engine.dispose()
    drop_database(backend, url)


@pytest.fixture(scope="module", params=BACKENDS)
def seeded(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    migrated_database: MigratedDatabase,
) -> Iterator[Seeded]:
    """One seeded, reconciled database per backend for the whole module (pages only read it)."""
    yield from seeded_database(request, tmp_path_factory, migrated_database, "dashboard-db", reconciled=True)


@pytest.fixture
def users_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    path = tmp_path / "users.toml"
    for role in Role:
        add_user(role.value, role, PASSWORD, path=path, rounds=4)
    monkeypatch.setenv(USERS_FILE_ENV, str(path))
    get_settings.cache_clear()  # the users file is a setting, read once
    yield path
    get_settings.cache_clear()


AppFactory = Callable[..., AppTest]


@pytest.fixture
def app_for(seeded: Seeded, users_file: Path, monkeypatch: pytest.MonkeyPatch) -> AppFactory:
    """app_for(role, page=None, **query) → an AppTest signed in as that role, already run on the page."""
    _point_app_at(seeded.url, monkeypatch)

    def make(role: Role | None, page: str | None = None, **query: str) -> AppTest:
        at = AppTest.from_file(str(APP), default_timeout=60)
        if role is not None:
            at.session_state[SESSION_KEY] = SignedInUser(
                name=f"{role.value}-tester", role=role, method="password"
            )
        at.query_params.update(query)
        at.run()
        if page is not None and page != "overview":
            at.switch_page(page_path(page)).run()
        return at

    return make


@pytest.fixture
def empty_app_for(database_url: str, users_file: Path, monkeypatch: pytest.MonkeyPatch) -> AppFactory:
    """Same as app_for, on a migrated but empty database."""
    _point_app_at(database_url, monkeypatch)

    def make(role: Role, page: str | None = None) -> AppTest:
        at = AppTest.from_file(str(APP), default_timeout=60)
        at.session_state[SESSION_KEY] = SignedInUser(
            name=f"{role.value}-tester", role=role, method="password"
        )
        at.run()
        if page is not None and page != "overview":
            at.switch_page(page_path(page)).run()
        return at

    return make
