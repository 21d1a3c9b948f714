"""The de-identification configuration, in the shape of Microsoft's FHIR anonymizer
(``fhirPathRules`` with ``path`` and ``method``, a ``parameters`` object), versioned.

Paths are a FHIRPath subset:

- ``Type.element.element`` — ``Type`` a resource type, or ``Resource`` for any; list
  indices are not written (``Patient.address.postalCode`` is every address's);
- ``nodesByType('T')`` — every node of FHIR data type ``T``, for ``HumanName``,
  ``Identifier``, ``ContactPoint``, ``Address``, ``Reference``, ``Annotation``,
  ``Attachment`` (recognised by the element names R4 gives them) and ``date`` (every
  date, dateTime or instant value).

Methods: ``keep``, ``redact``, ``dateShift`` (the patient's offset for this dataset),
``cryptoHash`` (a keyed per-study pseudonym: ids and references), ``generalize`` (``to``:
``zip3``, ``year``, ``year_age90``, ``decade``), ``substitute`` (``replaceWith``). For each
value the first rule whose path selects it or one of its ancestors decides; a value no
rule selects is kept. Parameters: restricted 3-digit zones (postcodes reduced to
``000``), the quasi-identifier paths and sensitive attribute of the release gates and
their thresholds ``k`` and ``l``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Final

from phrchain.core import encoding
from phrchain.core.hashing import sha256
from phrchain.deid.errors import INVALID_CONFIG

METHODS: Final = frozenset({"keep", "redact", "dateShift", "cryptoHash", "generalize",
                            "substitute"})
TYPES: Final = frozenset({"HumanName", "Identifier", "ContactPoint", "Address", "Reference",
                          "Annotation", "Attachment", "date"})
GENERALIZE: Final = frozenset({"zip3", "year", "year_age90", "decade"})
_PATH: Final = re.compile(r"[A-Z][A-Za-z]*(\.[a-z][A-Za-z0-9]*)+")
_BY_TYPE: Final = re.compile(r"nodesByType\('([A-Za-z]+)'\)")


@dataclass(frozen=True, slots=True)
class Rule:
    path: str
    method: str
    node_type: str | None            # for nodesByType rules
    resource: str | None             # for element paths: the type, or None for Resource
    elements: tuple[str, ...]
    to: str | None = None
    replace_with: str | None = None


@dataclass(frozen=True, slots=True)
class Config:
    raw: dict[str, Any]
    version: str
    rules: tuple[Rule, ...]
    restricted_zip3: frozenset[str]
    quasi_identifiers: tuple[str, ...]
    sensitive: str
    k: int
    l: int  # noqa: E741

    @property
    def digest(self) -> str:
        """SHA-256 of the configuration's canonical encoding (what a manifest names)."""
        return sha256(encoding.encode(self.raw)).hex()


def parse(raw: Any) -> Config:
    if not isinstance(raw, dict) or not isinstance(raw.get("fhirPathRules"), list) \
            or not isinstance(raw.get("parameters"), dict) \
            or not isinstance(raw.get("version"), str):
        raise INVALID_CONFIG("expected {version, fhirVersion, fhirPathRules: [...], "
                             "parameters: {...}}")
    if raw.get("fhirVersion", "R4") != "R4":
        raise INVALID_CONFIG("only fhirVersion R4")
    rules = tuple(_rule(i, r) for i, r in enumerate(raw["fhirPathRules"]))
    p = raw["parameters"]
    zips, qis, sensitive = (p.get("restrictedZipCodeTabulationAreas", []),
                            p.get("quasiIdentifiers"), p.get("sensitiveAttribute"))
    k, l_value = p.get("k"), p.get("l")
    if not isinstance(zips, list) or not all(isinstance(z, str) for z in zips) \
            or not isinstance(qis, list) or not qis \
            or not all(isinstance(q, str) and _PATH.fullmatch(q) for q in qis) \
            or not isinstance(sensitive, str) or not _PATH.fullmatch(sensitive) \
            or type(k) is not int or type(l_value) is not int or k < 1 or l_value < 1:
        raise INVALID_CONFIG("parameters: restrictedZipCodeTabulationAreas (strings), "
                             "quasiIdentifiers (paths), sensitiveAttribute (a path), k and "
                             "l (integers >= 1)")
    try:
        encoding.encode(raw)
    except Exception as exc:
        raise INVALID_CONFIG(f"not canonically encodable: {type(exc).__name__}") from None
    return Config(raw, raw["version"], rules, frozenset(zips), tuple(qis), sensitive, k,
                  l_value)


def _rule(index: int, r: Any) -> Rule:
    where = f"fhirPathRules[{index}]"
    if not isinstance(r, dict) or not isinstance(r.get("path"), str) \
            or r.get("method") not in METHODS:
        raise INVALID_CONFIG(f"{where}: needs a path and a method among {sorted(METHODS)}")
    path, method = r["path"], r["method"]
    allowed = {"path", "method"} | ({"to"} if method == "generalize" else set()) \
        | ({"replaceWith"} if method == "substitute" else set())
    if set(r) != allowed:
        raise INVALID_CONFIG(f"{where}: fields must be {sorted(allowed)}")
    if method == "generalize" and r["to"] not in GENERALIZE:
        raise INVALID_CONFIG(f"{where}: generalize to one of {sorted(GENERALIZE)}")
    if method == "substitute" and not isinstance(r["replaceWith"], str):
        raise INVALID_CONFIG(f"{where}: replaceWith must be a string")
    by_type = _BY_TYPE.fullmatch(path)
    if by_type:
        if by_type.group(1) not in TYPES:
            raise INVALID_CONFIG(f"{where}: nodesByType of one of {sorted(TYPES)}")
        return Rule(path, method, by_type.group(1), None, (), r.get("to"),
                    r.get("replaceWith"))
    if not _PATH.fullmatch(path):
        raise INVALID_CONFIG(f"{where}: path must be Type.element(.element)* or "
                             "nodesByType('T')")
    head, *elements = path.split(".")
    return Rule(path, method, None, None if head == "Resource" else head, tuple(elements),
                r.get("to"), r.get("replaceWith"))


def default_config() -> Config:
    """Safe Harbor's 18 identifiers plus Korea's resident registration and health
    insurance numbers (identifiers, redacted by type wherever they occur)."""
    text = resources.files(__package__).joinpath("default-config.json").read_text("utf-8")
    return parse(json.loads(text))


def load_config(path: Path) -> Config:
    try:
        return parse(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError) as exc:
        raise INVALID_CONFIG(f"{path.name}: {type(exc).__name__}") from None
