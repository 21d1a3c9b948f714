"""Clients build messages through the modules' dataclasses (``Grant(...).to_msg()``),
never as hand-typed dicts: a hand-typed dict can drift from what the chain parses, and
nothing but a refused tx would tell. This scans the client-side packages and the
benchmarks for a dict (or ``dict(...)`` call, or ``msg["type"] = ...``) whose ``"type"``
names a message."""

from __future__ import annotations

import ast
import importlib
from collections.abc import Iterator
from pathlib import Path

from phrchain.app import default_modules

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ("src/phrchain/client", "src/phrchain/gateway", "src/phrchain/vault",
           "src/phrchain/cli", "src/phrchain/web", "src/phrchain/demo", "bench")

MODULES = default_modules()[0]
REGISTERED = frozenset(t for module in MODULES for t in module.handlers())
PREFIXES = tuple(f"{module.name}/" for module in MODULES)
# Names that hold a message type: the modules' constants (REGISTER, m.GRANT, ...) and TYPE.
TYPE_NAMES = frozenset({"TYPE"} | {
    name for module in MODULES
    for name, value in vars(importlib.import_module(
        f"phrchain.modules.{module.name}.messages")).items()
    if isinstance(value, str) and value in REGISTERED})


def _names_message(value: ast.expr) -> bool:
    if isinstance(value, ast.Constant):
        return isinstance(value.value, str) and value.value.startswith(PREFIXES)
    if isinstance(value, ast.JoinedStr):
        return bool(value.values) and _names_message(value.values[0])
    if isinstance(value, ast.Name):
        return value.id in TYPE_NAMES
    if isinstance(value, ast.Attribute):
        return value.attr in TYPE_NAMES
    return False


def _type_values(node: ast.AST) -> Iterator[ast.expr]:
    """The values given to a ``"type"`` key by a dict literal, ``dict(type=...)`` or an
    item assignment ``msg["type"] = ...``."""
    if isinstance(node, ast.Dict):
        yield from (v for k, v in zip(node.keys, node.values, strict=True)
                    if isinstance(k, ast.Constant) and k.value == "type")
    elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
            and node.func.id == "dict":
        yield from (kw.value for kw in node.keywords if kw.arg == "type")
    elif isinstance(node, ast.Assign):
        for target in node.targets:
            if isinstance(target, ast.Subscript) and isinstance(target.slice, ast.Constant) \
                    and target.slice.value == "type":
                yield node.value


def handwritten(source: str) -> list[int]:
    """Line numbers of hand-written messages in ``source``."""
    return sorted({node.lineno for node in ast.walk(ast.parse(source))
                   if any(_names_message(v) for v in _type_values(node))})


def test_the_scan_finds_each_way_of_hand_writing_a_message() -> None:
    source = '\n'.join([
        'a = {"type": "consent/revoke", "consent": c}',
        'b = {"type": m.ADMIT_ORGANIZATION, "did": d}',
        'c = {"type": REGISTER, **fields}',
        'd = dict(type="claims/settle", claim=c)',
        'e["type"] = "records/erase"',
        'f = {"type": f"exchange/{kind}", "request": r}',
        'g = {"type": Grant.TYPE, "consent": c}',
        # not messages: an ASGI event, a FHIR field, a query path
        'h = {"type": "http.request", "body": b""}',
        'i = {"type": [{"coding": []}], "status": "active"}',
        'j = chain.query("consent/decide", {"record": r})',
    ])
    assert handwritten(source) == [1, 2, 3, 4, 5, 6, 7]


def test_no_handwritten_message_in_the_client_side_packages() -> None:
    found = []
    for folder in SCANNED:
        files = sorted((ROOT / folder).rglob("*.py"))
        assert files, f"nothing to scan in {folder}"
        for path in files:
            name = path.relative_to(ROOT).as_posix()
            found += [f"{name}:{line}" for line in handwritten(path.read_text())]
    assert found == [], "build these with the module's dataclass: X(...).to_msg()"
