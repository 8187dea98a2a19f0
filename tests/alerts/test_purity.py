"""app.alerts is a pure library: standard library and its own package only, no clock, no I/O."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import app.alerts

PACKAGE = Path(app.alerts.__file__).resolve().parent
# Stdlib modules that would bring a clock, randomness, concurrency or I/O into the engine.
IMPURE = {
    "asyncio", "datetime", "http", "io", "logging", "os", "pathlib", "random", "shutil",
    "socket", "sqlite3", "subprocess", "threading", "time", "urllib",
}  # fmt: skip
# Reading a clinic's rule file at set-up is the one I/O, kept in its own module.
IO_ALLOWED = {"rulefile.py": {"os", "pathlib"}}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path.name}: use absolute imports"
            names.add(node.module or "")
    return names


def test_alert_engine_modules_import_only_the_standard_library_and_app_alerts() -> None:
    modules = sorted(PACKAGE.glob("*.py"))
    assert len(modules) >= 10
    for path in modules:
        for name in imported_modules(path):
            top = name.split(".")[0]
            own = name == "app.alerts" or name.startswith("app.alerts.")
            assert own or top in sys.stdlib_module_names, f"{path.name} imports {name}"
            impure = top in IMPURE and top not in IO_ALLOWED.get(path.name, set())
            assert not impure, f"{path.name} imports {name}: no clock, randomness or I/O"


def test_alert_engine_has_no_subpackages_left_unchecked() -> None:
    assert [p.name for p in PACKAGE.iterdir() if p.is_dir() and p.name != "__pycache__"] == []
