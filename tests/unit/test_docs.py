"""Documentation that is derived from code must match it."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_error_code_table_matches_registry() -> None:
    spec = importlib.util.spec_from_file_location("gen", ROOT / "scripts" / "gen_errors_doc.py")
    assert spec and spec.loader
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    assert (ROOT / "docs" / "errors.md").read_text() == gen.render(), \
        "run `python scripts/gen_errors_doc.py`"
