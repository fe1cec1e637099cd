"""The layers of DESIGN.md section 1, checked on the source: curses only in the UI, Redis and
SQLite only in the data layer (and in the demo generator, which writes sample databases)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CURSES_ALLOWED = ("src/kalipso/ui/", "src/kalipso/app.py")
STORAGE_ALLOWED = ("src/kalipso/data/", "src/kalipso/demo/")


def imported(path: Path) -> set[str]:
    """Top-level names of every module the file imports (at any depth of the code)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


def test_curses_redis_and_sqlite_stay_in_their_layers():
    wrong = []
    for path in sorted([*ROOT.glob("src/kalipso/**/*.py"), *ROOT.glob("plugins/**/*.py")]):
        rel = path.relative_to(ROOT).as_posix()
        names = imported(path)
        if {"curses", "_curses"} & names and not rel.startswith(CURSES_ALLOWED):
            wrong.append(f"{rel} imports curses")
        if {"redis", "sqlite3"} & names and not rel.startswith(STORAGE_ALLOWED):
            wrong.append(f"{rel} imports {', '.join(sorted({'redis', 'sqlite3'} & names))}")
    assert not wrong, wrong
