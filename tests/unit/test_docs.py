"""Documentation that is derived from code must match it."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_error_code_table_matches_registry() -> None:
    spec = importlib.util.spec_from_file_location("gen", ROOT / "scripts" / "gen_errors_doc.py")
    assert spec and spec.loader
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    assert (ROOT / "docs" / "errors.md").read_text() == gen.render(), \
        "run `python scripts/gen_errors_doc.py`"


_LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def _markdown_files() -> list[Path]:
    skip = {".venv", ".git", "node_modules"}
    return [p for p in ROOT.rglob("*.md") if not skip & set(p.relative_to(ROOT).parts)
            and not any(part.startswith(".phrchain") for part in p.parts)]


def test_every_relative_link_stays_inside_the_repository_and_resolves() -> None:
    """The project's documents stand alone: no link leaves the checkout, none is dead."""
    bad = []
    for doc in _markdown_files():
        for target in _LINK.findall(doc.read_text()):
            if "://" in target or target.startswith("mailto:"):
                continue
            resolved = (doc.parent / target).resolve()
            if not resolved.is_relative_to(ROOT) or not resolved.exists():
                bad.append(f"{doc.relative_to(ROOT)} -> {target}")
    assert not bad, bad
