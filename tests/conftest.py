"""Shared test helpers: deterministic keys and a genesis, no global state."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from phrchain.core import accel

VECTORS = Path(__file__).parent / "vectors"


def pytest_report_header() -> str:
    return f"phrchain hot path: {accel.STATUS}"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say it loudly when the compiled hot path could not be tested at all."""
    if accel.AVAILABLE is None:
        terminalreporter.write_line(
            f"WARNING: COMPILED HOT PATH UNTESTED: {accel.STATUS} "
            "(tests/unit/test_native.py skipped; scripts/test.sh builds it when cargo is "
            "installed)", yellow=True, bold=True)


def load_vectors(kind: str) -> list[tuple[str, dict[str, Any]]]:
    """One case per file: (file stem, case)."""
    files = sorted((VECTORS / kind).glob("*.json"))
    assert files, f"no vectors for {kind}"
    return [(f.stem, json.loads(f.read_text())) for f in files]
