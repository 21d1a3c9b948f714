"""The FHIR facade keeps the project's function size (STYLE.md: functions of at most
about 60 lines), its route registrations included."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "phrchain"
FILES = [*sorted((SRC / "fhirapi").glob("*.py")), SRC / "web" / "fhir.py"]


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_no_function_over_60_lines(path: Path) -> None:
    tree = ast.parse(path.read_text())
    long = [(node.name, node.end_lineno - node.lineno + 1)
            for node in ast.walk(tree)
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            and node.end_lineno is not None and node.end_lineno - node.lineno + 1 > 60]
    assert not long, f"{path.name}: {long}"
