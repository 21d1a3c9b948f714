"""The supply parameter table: versioned chain parameters, never code constants.

Genesis may set version 1 (``{"params": {...}}``); an active authority replaces the table
with ``supply/set_params`` (governance), which stores the next version. Every rule reads
the version current at its block and every dispense records the version it was judged
by, so an old decision can be explained after the table changes.

Shape (every number an integer; README "Parameters")::

    {"aware":   {<ATC prefix>: "access" | "watch" | "reserve"},   longest prefix wins
     "groups":  {<group>: [<ATC prefix>, ...]},                 opioid, benzodiazepine, …
     "mme_milli": {<RxNorm ingredient>: <CDC factor x 1000>},
     "thresholds": {"mme_per_day", "providers", "pharmacies", "window_days",
                    "zolpidem_ug_per_day", "long_use_days", "reversal_window_days"},
     "long_use_groups": [<group>, ...],
     "holders": {<controlled class>: [<org type>, ...]},
     "prescriber_roles": {<controlled class>: [<role>, ...]},
     "stewardship_codes": [<code>, ...],
     "exemptions": [<code>, ...]}
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, Final

from phrchain.core.errors import ErrorCode

CONTROLLED_CLASSES: Final = ("narcotic", "psychotropic", "none")
AWARE_GROUPS: Final = ("access", "watch", "reserve")
THRESHOLDS: Final = ("mme_per_day", "providers", "pharmacies", "window_days",
                     "zolpidem_ug_per_day", "long_use_days", "reversal_window_days")
# The rule groups the monitoring reads by name (a table may define more, for queries).
RULE_GROUPS: Final = ("opioid", "benzodiazepine", "zolpidem", "appetite_suppressant",
                      "antibiotic")
ATC_PREFIX_RE: Final = re.compile(r"[A-Z]([0-9]{2}([A-Z]([A-Z]([0-9]{2})?)?)?)?")
ATC_RE: Final = re.compile(r"[A-Z][0-9]{2}[A-Z]{2}[0-9]{2}")
RXNORM_RE: Final = re.compile(r"[1-9][0-9]{0,9}")
CODE_RE: Final = re.compile(r"[a-z][a-z0-9_]{0,31}")
MAX_ENTRIES: Final = 512
MAX_VALUE: Final = 10**9
_SECTIONS: Final = ("aware", "groups", "mme_milli", "thresholds", "long_use_groups",
                    "holders", "prescriber_roles", "stewardship_codes", "exemptions")

Params = dict[str, Any]


def _table(value: Any, what: str, error: ErrorCode, key_ok: Callable[[str], bool],
           value_ok: Callable[[Any], bool]) -> dict[str, Any]:
    if not isinstance(value, dict) or not 1 <= len(value) <= MAX_ENTRIES \
            or not all(isinstance(k, str) and key_ok(k) and value_ok(v)
                       for k, v in value.items()):
        raise error(f"params.{what} is malformed (README \"Parameters\")")
    return value


def _codes(value: Any, what: str, error: ErrorCode, ok: Callable[[str], bool],
           low: int = 0) -> list[str]:
    if not isinstance(value, list) or not low <= len(value) <= MAX_ENTRIES \
            or not all(isinstance(v, str) and ok(v) for v in value) \
            or value != sorted(set(value)):
        raise error(f"params.{what} must be a sorted, duplicate-free list of codes")
    return value


def _positive(v: Any) -> bool:
    return type(v) is int and 1 <= v <= MAX_VALUE


def parse_params(value: Any, error: ErrorCode) -> Params:
    """Check a parameter table; raise ``error`` with the first fault."""
    if not isinstance(value, dict) or set(value) != set(_SECTIONS):
        raise error(f"params must have exactly the sections {sorted(_SECTIONS)}")

    def atc_prefix(k: str) -> bool:
        return ATC_PREFIX_RE.fullmatch(k) is not None

    def code(k: str) -> bool:
        return CODE_RE.fullmatch(k) is not None

    _table(value["aware"], "aware", error, atc_prefix, lambda v: v in AWARE_GROUPS)
    groups = _table(value["groups"], "groups", error, code,
                    lambda v: isinstance(v, list) and bool(v)
                    and all(isinstance(p, str) and atc_prefix(p) for p in v)
                    and v == sorted(set(v)))
    missing = set(RULE_GROUPS) - set(groups)
    if missing:
        raise error(f"params.groups must define {sorted(missing)}")
    _table(value["mme_milli"], "mme_milli", error,
           lambda k: RXNORM_RE.fullmatch(k) is not None, _positive)
    thresholds = _table(value["thresholds"], "thresholds", error,
                        lambda k: k in THRESHOLDS, _positive)
    if set(thresholds) != set(THRESHOLDS):
        raise error(f"params.thresholds must set exactly {sorted(THRESHOLDS)}")
    long_use = _codes(value["long_use_groups"], "long_use_groups", error, code)
    if not set(long_use) <= set(groups):
        raise error("params.long_use_groups must name groups of params.groups")
    for section in ("holders", "prescriber_roles"):
        table = _table(value[section], section, error, lambda k: k in CONTROLLED_CLASSES,
                       lambda v: isinstance(v, list) and bool(v)
                       and all(isinstance(x, str) and code(x) for x in v)
                       and v == sorted(set(v)))
        if set(table) != set(CONTROLLED_CLASSES):
            raise error(f"params.{section} must name every class {list(CONTROLLED_CLASSES)}")
    _codes(value["stewardship_codes"], "stewardship_codes", error, code, 1)
    _codes(value["exemptions"], "exemptions", error, code)
    return value


def aware_of(params: Mapping[str, Any], atc: str) -> str | None:
    """The AWaRe group of an ATC code: the entry with the longest matching prefix."""
    best: tuple[int, str] | None = None
    for prefix, group in params["aware"].items():
        if atc.startswith(prefix) and (best is None or len(prefix) > best[0]):
            best = (len(prefix), group)
    return None if best is None else best[1]


def groups_of(params: Mapping[str, Any], atcs: list[str]) -> list[str]:
    """The parameter groups any of ``atcs`` falls in, sorted."""
    return sorted(g for g, prefixes in params["groups"].items()
                  if any(a.startswith(tuple(prefixes)) for a in atcs))

