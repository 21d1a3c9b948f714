"""Code outside the vault's own module talks to it through its public API
(``Vault.query``, ``Vault.acting``, ``Vault.rate``...), never through its private
attributes: an AST scan of ``src/phrchain`` for ``<anything but self/cls>._name`` where
``_name`` is a private method or attribute of :class:`phrchain.gateway.service.Vault`."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "phrchain"
VAULT_MODULE = SRC / "gateway" / "service.py"


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _on_self(node: ast.Attribute) -> bool:
    return isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")


def vault_private_names(source: str) -> set[str]:
    """The private methods, class-level names and ``self._x`` attributes of ``Vault``."""
    tree = ast.parse(source)
    vault = next(node for node in tree.body
                 if isinstance(node, ast.ClassDef) and node.name == "Vault")
    names: set[str] = set()
    for node in ast.walk(vault):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and _private(node.name):
            names.add(node.name)
        elif isinstance(node, ast.Attribute) and _on_self(node) and _private(node.attr):
            names.add(node.attr)
    for statement in vault.body:
        if isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name) \
                and _private(statement.target.id):
            names.add(statement.target.id)
    return names


def trespasses(source: str, private: set[str]) -> list[str]:
    """Each ``x._name`` in ``source`` with ``_name`` in ``private`` and ``x`` not
    ``self``/``cls``, as ``line: expression``."""
    return [f"{node.lineno}: {ast.unparse(node)}"
            for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.Attribute) and node.attr in private
            and not _on_self(node)]


PRIVATE = vault_private_names(VAULT_MODULE.read_text(encoding="utf-8"))


def test_the_scan_knows_the_vaults_private_parts() -> None:
    assert {"_chain", "_acting", "_rate", "_lock"} <= PRIVATE


@pytest.mark.parametrize(("line", "flagged"), [
    ("self.vault._chain('identity/did', {})", True),
    ("vault._acting(did)", True),
    ("api.vault._rate(client)", True),
    ("self._chain('identity/did', {})", False),
    ("self.vault.query('identity/did', {})", False),
    ("vault.acting(did)", False),
])
def test_the_scan_flags_private_use_only(line: str, flagged: bool) -> None:
    assert bool(trespasses(line, PRIVATE)) is flagged


def test_no_code_outside_the_vault_module_uses_its_private_attributes() -> None:
    bad = [f"{path.relative_to(SRC)}:{found}"
           for path in sorted(SRC.rglob("*.py")) if path != VAULT_MODULE
           for found in trespasses(path.read_text(encoding="utf-8"), PRIVATE)]
    assert bad == []
