"""Reading the CSV a page prepared in AppTest (where the export falls back to the in-memory button)."""

from __future__ import annotations

import csv
import io
from typing import Any

__all__ = ["prepare_csv", "prepared_csv"]


def prepared_csv(at: Any, name: str) -> list[dict[str, str]]:
    """The rows of the CSV export `name` the page has already prepared."""
    prepared = at.session_state["payops_exports"][f"csv_{name}"]
    return list(csv.DictReader(io.StringIO(prepared.data.decode("utf-8"))))


def prepare_csv(at: Any, name: str) -> list[dict[str, str]]:
    """Press the page's "Prepare CSV" for `name` and return the rows of the file it prepared."""
    next(b for b in at.button if b.key == f"prepare_{name}").click().run()
    assert not at.exception, [e.value for e in at.exception]
    return prepared_csv(at, name)
