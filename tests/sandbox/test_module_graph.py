"""sandbox/ modules import each other without a circle (build → anomalies → generator, never back)."""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

SANDBOX = Path(__file__).resolve().parents[2] / "sandbox"


def sandbox_imports(path: Path) -> set[str]:
    """The sandbox modules `path` imports, at the top or inside a function alike."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module == "sandbox":
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sandbox."):
            found.add(str(node.module).split(".")[1])
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[1] for a in node.names if a.name.startswith("sandbox."))
    return found


def test_sandbox_modules_have_no_import_circle() -> None:
    modules = {path.stem: path for path in SANDBOX.glob("*.py") if path.stem != "__init__"}
    graph = {name: sandbox_imports(path) & modules.keys() for name, path in modules.items()}
    assert graph["build"] >= {"anomalies", "generator"}
    try:
        order = list(TopologicalSorter(graph).static_order())
    except CycleError as error:
        raise AssertionError(f"import circle in sandbox/: {error.args[1]}") from None
    assert order.index("generator") < order.index("anomalies") < order.index("build")
