"""What compiled code needs of the modules in packaging/compiled-modules.txt, read from
their source: mypyc types a name by its first binding, so one `except ... as exc`
name bound to two unrelated exception types in one function fails at run time when
the second is caught (`TypeError: GobError object expected; got TypeError`)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

REPO_ROOT = Path(__file__).resolve().parents[2]
LISTING = REPO_ROOT / "packaging" / "compiled-modules.txt"


def listed_sources() -> list[Path]:
    lines = (line.strip() for line in LISTING.read_text().splitlines())
    return [REPO_ROOT / line for line in lines if line and not line.startswith("#")]


def reused_exception_names(source: str) -> list[str]:
    """`function: name` for each name bound by except clauses of two different types."""
    found = []
    for function in ast.walk(ast.parse(source)):
        if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        types: dict[str, set[str]] = {}
        for node in ast.walk(function):
            if isinstance(node, ast.ExceptHandler) and node.name and node.type is not None:
                types.setdefault(node.name, set()).add(ast.unparse(node.type))
        found += [f"{function.name}: {name}" for name, seen in types.items() if len(seen) > 1]
    return found


def test_every_listed_module_exists() -> None:
    sources = listed_sources()
    assert len(sources) >= 10
    for path in sources:
        assert path.is_file(), f"{path.relative_to(REPO_ROOT)} is listed but does not exist"


def test_the_check_finds_a_reused_exception_name() -> None:
    source = (
        "def f():\n"
        "    try: pass\n    except KeyError as exc: pass\n"
        "    try: pass\n    except ValueError as exc: pass\n"
    )
    assert reused_exception_names(source) == ["f: exc"]
    assert reused_exception_names(source.replace("ValueError", "KeyError")) == []


@pytest.mark.parametrize("path", listed_sources(), ids=lambda path: path.name)
def test_no_exception_name_is_bound_to_two_types(path: Path) -> None:
    assert reused_exception_names(path.read_text()) == []
