"""The layout issue #10 settled, held: the product's folders and bench/ import as one installed project
(no `sys.path` edits, no `importlib` tricks), and bench/ shares only `tests.support` with the tests."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("data", "sync", "analytics", "dashboard", "pages", "sandbox", "bench", "scripts")


def _sources(*folders: str) -> list[Path]:
    return sorted(path for folder in folders for path in (ROOT / folder).rglob("*.py"))


def _imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("folder", FOLDERS)
def test_no_path_edits_or_importlib(folder: str) -> None:
    offending = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in _sources(folder)
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if "sys.path" in line or "importlib" in line
    ]
    assert offending == []


def test_bench_imports_only_the_shared_test_support() -> None:
    private = {
        f"{path.relative_to(ROOT)}: {name}"
        for path in _sources("bench")
        for name in _imported(path)
        if (name == "tests" or name.startswith("tests.")) and not name.startswith("tests.support")
    }
    assert private == set()
