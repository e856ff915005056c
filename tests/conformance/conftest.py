"""A fresh migrated database per corpus sample, cheaply: migrate once per backend, then copy the file
(SQLite) or clone the database (PostgreSQL `CREATE DATABASE … TEMPLATE`)."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from data.db import make_engine
from data.migrate import upgrade
from tests.conftest import PG_ADMIN_URL, _drop_pg_database, new_database_url


@pytest.fixture(scope="session")
def _templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    made: dict[str, str] = {}
    yield made
    for backend, url in made.items():
        if backend == "postgresql":
            _drop_pg_database(url)


def _template(backend: str, templates: dict[str, str], directory: Path) -> str:
    if backend not in templates:
        url = new_database_url(backend, directory)
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        templates[backend] = url
    return templates[backend]


@pytest.fixture
def corpus_database_url(
    backend: str, _templates: dict[str, str], tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    template = _template(backend, _templates, tmp_path_factory.mktemp("corpus-template"))
    if backend == "sqlite":
        copy = tmp_path / f"corpus-{uuid.uuid4().hex[:8]}.db"
        shutil.copyfile(template.removeprefix("sqlite:///"), copy)
        yield f"sqlite:///{copy}"
        return
    name = f"payops_corpus_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template.rsplit("/", 1)[1]}"'))
    admin.dispose()
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    yield url
    _drop_pg_database(url)


@pytest.fixture
def corpus_engine(corpus_database_url: str) -> Iterator[Engine]:
    engine = make_engine(corpus_database_url)
    yield engine
    engine.dispose()
