"""Shared test helpers: deterministic keys and a genesis, no global state."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

VECTORS = Path(__file__).parent / "vectors"


def load_vectors(kind: str) -> list[tuple[str, dict[str, Any]]]:
    """One case per file: (file stem, case)."""
    files = sorted((VECTORS / kind).glob("*.json"))
    assert files, f"no vectors for {kind}"
    return [(f.stem, json.loads(f.read_text())) for f in files]
