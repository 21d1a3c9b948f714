"""Shared test helpers: deterministic keys and a genesis, no global state."""

from __future__ import annotations

import gc
import json
import warnings
from pathlib import Path
from typing import Any

import pytest

from phrchain.core import accel

VECTORS = Path(__file__).parent / "vectors"


def pytest_report_header() -> str:
    return f"phrchain hot path: {accel.STATUS}"


# Unclosed sockets/files found when each test module ends: (module, warning text).
_LEAKS: list[tuple[str, str]] = []


def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """After a module's last test, collect its garbage and note what was left unclosed,
    naming that module. (A ResourceWarning is raised where the garbage collector happens
    to run, so as an error it failed an innocent later test; pyproject.toml shows it
    instead, and this names the module that leaked it.)"""
    if nextitem is not None and nextitem.module is item.module:  # type: ignore[attr-defined]
        return
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        gc.collect()
    _LEAKS.extend((item.nodeid.split("::")[0], str(w.message)[:160]) for w in caught
                  if issubclass(w.category, ResourceWarning))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Name the modules that left sockets or files unclosed; say it loudly when the
    compiled hot path could not be tested at all."""
    for module, message in _LEAKS:
        terminalreporter.write_line(f"LEAK: {module} left {message}", yellow=True)
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
