"""The layers of docs/architecture.md and their one-way imports, checked on the source tree."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "myelin"

# What each top-level part of the package may import from myelin (besides itself).
ALLOWED: dict[str, set[str]] = {
    "core": set(),
    "clock": {"core"},
    "config": {"core"},
    "log": {"core", "config"},
    "storage": {"core"},
    "federation": {"core", "clock", "config"},
    "services": {"core", "clock", "config", "storage", "federation"},
    "api": {"core", "clock", "config", "services"},
    "app": {"*"},
    "cli": {"*"},
    "__init__": set(),
    "__main__": {"cli"},
}


def _layer(path: Path) -> str:
    relative = path.relative_to(PACKAGE)
    return relative.parts[0].removesuffix(".py")


def _myelin_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
            if node.module == "myelin":
                names = [f"myelin.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level > 0:
            raise AssertionError(f"{path}: use absolute imports (found a relative import)")
        for name in names:
            parts = name.split(".")
            if parts[0] == "myelin" and len(parts) > 1:
                found.add(parts[1])
    return found


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_every_part_has_a_layer() -> None:
    unknown = {_layer(p) for p in _modules()} - ALLOWED.keys()
    assert not unknown, f"add these parts of myelin/ to docs/architecture.md and ALLOWED: {unknown}"


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_one_way(path: Path) -> None:
    layer = _layer(path)
    allowed = ALLOWED.get(layer, set())
    if "*" in allowed:
        return
    bad = _myelin_imports(path) - allowed - {layer}
    assert not bad, f"myelin/{path.relative_to(PACKAGE)} ({layer}) must not import {sorted(bad)}"


def test_core_is_pure() -> None:
    """The protocol core does no I/O: no asyncio, sockets, files, clocks or databases."""
    forbidden = {"asyncio", "socket", "sqlite3", "asyncpg", "aiohttp", "time", "datetime", "os"}
    for path in (PACKAGE / "core").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                roots = {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                roots = {node.module.split(".")[0]}
            else:
                continue
            assert not roots & forbidden, f"{path.name} imports {roots & forbidden}"
