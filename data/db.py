"""One engine factory, configured from DATABASE_URL (an SQLite file by default)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

from data.settings import get_settings


def json_text(value: Any) -> str:
    """The one JSON serialiser of every engine: orjson (5x faster than json.dumps on the `raw` and
    payload columns that are the bulk of every write), compact, keys in the order given. One
    serialiser means equal values are equal text on SQLite, so writers compare stored JSON as text."""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def make_engine(database_url: str | None = None, **kwargs: Any) -> Engine:
    """Create an engine; SQLite gets WAL, a busy timeout and enforced foreign keys. JSON columns are
    written with `json_text` whoever writes (the sync, the receiver, the dashboard's sync, scripts)."""
    if "json_serializer" in kwargs:
        raise TypeError("make_engine sets the one JSON serialiser itself (data.db.json_text)")
    kwargs["json_serializer"] = json_text
    # Errors and echo never carry bound values (emails, phones, raw payloads) into a log.
    kwargs.setdefault("hide_parameters", True)
    url = make_url(database_url or get_settings().database_url)
    if url.get_backend_name() == "postgresql" and url.drivername == "postgresql":
        # psycopg 3 is the driver we install; plain postgresql:// would look for psycopg2.
        url = url.set(drivername="postgresql+psycopg")
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)
        event.listen(engine, "connect", _configure_sqlite)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    # WAL + NORMAL is durable against process crashes (only power loss can lose the last commit).
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
