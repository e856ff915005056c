"""Fixtures: a receiver app on the parametrised database, driven in-process through Starlette's TestClient."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from sync.webhooks.app import create_app
from tests.sync.webhooks.events import OLD_SECRET, SECRET


@pytest.fixture
def receiver(database_url: str) -> Iterator[TestClient]:
    """A receiver verifying with both the current and the previous secret (a rotation in progress)."""
    with TestClient(create_app(database_url, [SECRET, OLD_SECRET])) as client:
        yield client
