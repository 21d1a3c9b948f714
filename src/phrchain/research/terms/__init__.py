"""The DUO release and disease hierarchy phrchain ships, as a research genesis section
(``phrchain.modules.research.genesis``). Data, read once from this package's JSON files;
a chain pins them at genesis or with ``research/set_params``."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any, Final

DUO_FILE: Final = "duo-v2021-02-23.json"
DISEASES_FILE: Final = "mondo-subset-1.json"
# Parameters of the shipped genesis section.
DEFAULTS: Final = {"match_batch": 200, "max_leaves": 200, "min_k": 5, "min_l": 2}


def load(name: str) -> dict[str, Any]:
    raw = resources.files(__name__).joinpath(name).read_text(encoding="utf-8")
    value: dict[str, Any] = json.loads(raw)
    return value


def params(**overrides: int) -> dict[str, Any]:
    """The ``research/set_params`` body (without ``type``) of the shipped tables."""
    return {**DEFAULTS, **overrides, "terms": load(DUO_FILE), "diseases": load(DISEASES_FILE)}


def genesis_section(**overrides: int) -> dict[str, Any]:
    return {"params": params(**overrides)}
