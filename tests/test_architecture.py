"""The core package `bot/` imports no platform, ORM or scheduler library and no edge package.

The core is pure: adapters and storage depend on it, never the other way round.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORE = ROOT / "bot"

FORBIDDEN = frozenset(
    {
        # platform, ORM, scheduler and HTTP libraries
        "slack_bolt",
        "slack_sdk",
        "nio",
        "sqlalchemy",
        "alembic",
        "apscheduler",
        "aiohttp",
        "psycopg",
        # the edge packages of this project
        "storage",
        "adapters",
        "migrations",
    }
)


@dataclass(frozen=True, order=True)
class Violation:
    path: str
    line: int
    module: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line} {self.module}"


def _imported_modules(tree: ast.AST) -> list[tuple[int, str]]:
    """Every absolute module name the tree imports, statically or by a literal string."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module:
                found.append((node.lineno, node.module))
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            name = (
                func.attr
                if isinstance(func, ast.Attribute)
                else func.id
                if isinstance(func, ast.Name)
                else None
            )
            first = node.args[0]
            if (
                name in ("import_module", "__import__")
                and isinstance(first, ast.Constant)
                and isinstance(first.value, str)
                and not first.value.startswith(".")
            ):
                found.append((node.lineno, first.value))
    return found


def find_forbidden_imports(package: Path) -> tuple[list[Violation], int]:
    """(violations, number of files scanned) for every .py file under `package`."""
    violations: list[Violation] = []
    scanned = 0
    for path in sorted(package.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        scanned += 1
        shown = path.relative_to(package.parent).as_posix()
        for line, module in _imported_modules(tree):
            if module.split(".", 1)[0] in FORBIDDEN:
                violations.append(Violation(shown, line, module))
    return sorted(violations), scanned


def test_core_imports_no_platform_orm_scheduler_or_edge_package() -> None:
    violations, scanned = find_forbidden_imports(CORE)
    assert scanned >= 1, f"no .py files found under {CORE}"
    assert not violations, "bot/ must stay pure; forbidden imports:\n" + "\n".join(
        str(v) for v in violations
    )


def test_checker_catches_planted_imports(tmp_path: Path) -> None:
    pkg = tmp_path / "bot"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "clean.py").write_text(
        "import json\n"
        "from . import sibling\n"
        "from .storage import local_name\n"
        "from bot.domain import Incident\n"
        "import nioxide\n"
        "import_module('.adapters', __package__)\n"
    )
    (pkg / "dirty.py").write_text(
        "import importlib\n"
        "import sqlalchemy.orm\n"
        "from slack_bolt import App\n"
        "\n"
        "def later():\n"
        "    import nio\n"
        "    from storage.repositories import SqlRepository\n"
        "    return importlib.import_module('apscheduler.schedulers.asyncio')\n"
    )
    (pkg / "sub" / "deep.py").write_text(
        "from importlib import import_module\n"
        "if True:\n"
        "    import json, psycopg\n"
        "mod = import_module('adapters.cli')\n"
        "other = __import__('migrations')\n"
    )

    violations, scanned = find_forbidden_imports(pkg)

    assert scanned == 4
    assert [str(v) for v in violations] == [
        "bot/dirty.py:2 sqlalchemy.orm",
        "bot/dirty.py:3 slack_bolt",
        "bot/dirty.py:6 nio",
        "bot/dirty.py:7 storage.repositories",
        "bot/dirty.py:8 apscheduler.schedulers.asyncio",
        "bot/sub/deep.py:3 psycopg",
        "bot/sub/deep.py:4 adapters.cli",
        "bot/sub/deep.py:5 migrations",
    ]


@pytest.mark.parametrize("module", sorted(FORBIDDEN))
def test_checker_catches_each_forbidden_module(tmp_path: Path, module: str) -> None:
    pkg = tmp_path / "core"
    pkg.mkdir()
    (pkg / "mod.py").write_text(f"from {module}.x import y\n")
    violations, _ = find_forbidden_imports(pkg)
    assert [str(v) for v in violations] == [f"core/mod.py:1 {module}.x"]


def _draft_imports() -> dict[str, set[str]]:
    """For each module of bot/drafts, the bot/drafts modules it imports, lazily or not."""
    drafts = CORE / "drafts"
    names = {path.stem for path in drafts.glob("*.py")}
    graph: dict[str, set[str]] = {}
    for path in drafts.glob("*.py"):
        found: set[str] = set()
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "bot.drafts":
                found.update(alias.name for alias in node.names if alias.name in names)
        for _, module in _imported_modules(tree):
            if module.startswith("bot.drafts.") and module.split(".")[2] in names:
                found.add(module.split(".")[2])
        graph[path.stem] = found - {path.stem}
    return graph


def test_the_draft_modules_import_each_other_in_one_direction_only() -> None:
    # No cycle, not even through an import inside a function (the Word writer and the
    # renderer once imported each other).
    graph = _draft_imports()
    assert "docx" in graph["render"]  # the graph is read
    cycles = []
    for start in graph:
        stack = [(start, [start])]
        while stack:
            module, path = stack.pop()
            for imported in graph[module]:
                if imported == start:
                    cycles.append(" -> ".join([*path, start]))
                elif imported not in path:
                    stack.append((imported, [*path, imported]))
    assert cycles == []
