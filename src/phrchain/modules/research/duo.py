"""GA4GH Data Use Ontology matching: does a donor's donation permit a study's use?

Pure and deterministic. The *table* (which DUO release, each code's id, label and
parameter kind, which study purposes each permission permits, and the MONDO disease
hierarchy for ``DS``) is chain data — genesis or ``research/set_params`` — pinned per
parameters version; a donation names the version it was made under. What each code
*means* for a study is here, in :data:`MODIFIER_RULES`, since it reads the study's
declared fields; a table may only list codes this code base knows (:data:`PARAM_KINDS`).

:func:`outcome` returns ``None`` (included) or the reason a donor is excluded, the first
failing check in a fixed order: ``revoked``, ``not_started``, ``expired``, ``purpose``,
``disease``, ``clinical_care``, then the donation's modifiers in code order.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

# Every DUO code this code base gives a meaning to, with the kind of its parameter.
PARAM_KINDS: Final[Mapping[str, str]] = {
    "NRES": "none", "GRU": "none", "HMB": "none", "DS": "disease", "POA": "none",
    "NPU": "none", "NCU": "none", "NPUNCU": "none", "IRB": "none", "PUB": "none",
    "COL": "dids", "GS": "countries", "MOR": "date", "TS": "months", "US": "dids",
    "PS": "ids", "IS": "dids", "GSO": "none", "RTN": "none", "CC": "none", "NMDS": "none",
    "NPOA": "none",
}
PERMISSIONS: Final = frozenset({"NRES", "GRU", "HMB", "DS", "POA"})
# What a study may declare as its purpose (``DS`` with a disease).
PURPOSES: Final = frozenset({"GRU", "HMB", "DS", "POA"})
MAX_DEPTH: Final = 64  # a disease hierarchy deeper than this is refused by set_params

Study = Mapping[str, Any]
Rule = Callable[[Study, Any], bool]

# Each modifier: does the study satisfy it, given the modifier's parameter?
MODIFIER_RULES: Final[Mapping[str, Rule]] = {
    "NPU": lambda s, _: not s["for_profit"],
    "NCU": lambda s, _: not s["commercial"],
    "NPUNCU": lambda s, _: not s["for_profit"] and not s["commercial"],
    "IRB": lambda s, _: s["irb"] is not None,
    "PUB": lambda s, _: bool(s["publish"]),
    "COL": lambda s, p: all(d in s["collaborators"] for d in p),
    "GS": lambda s, p: s["country"] in p,
    "MOR": lambda s, p: s["publication_ms"] >= p,
    "TS": lambda s, p: s["duration_months"] <= p,
    "US": lambda s, p: all(u in p for u in s["users"]),
    "PS": lambda s, p: s["study"] in p,
    "IS": lambda s, p: s["institute"] in p,
    "GSO": lambda s, _: bool(s["genetic"]),
    "RTN": lambda s, _: bool(s["returns"]),
    "CC": lambda s, _: True,      # widens a permission to clinical care (see outcome)
    "NMDS": lambda s, _: not s["methods"],
    "NPOA": lambda s, _: s["purpose"]["code"] != "POA",
}


def is_a(parents: Mapping[str, Sequence[str]], disease: str, ancestor: str) -> bool:
    """Is ``disease`` ``ancestor`` or one of its descendants in the pinned hierarchy?"""
    seen: set[str] = set()
    todo = [disease]
    while todo:
        term = todo.pop()
        if term == ancestor:
            return True
        if term not in seen:
            seen.add(term)
            todo.extend(parents.get(term, ()))
    return False


def permits(terms: Mapping[str, Any], diseases: Mapping[str, Any],
            permission: Mapping[str, Any], purpose: Mapping[str, Any]) -> str | None:
    """``None`` if the permission permits the purpose, else ``purpose`` or ``disease``."""
    if purpose["code"] not in terms["permits"].get(permission["code"], ()):
        return "purpose"
    if permission["code"] == "DS" and not is_a(diseases["parents"], purpose["disease"],
                                               permission["disease"]):
        return "disease"
    return None


def outcome(terms: Mapping[str, Any], diseases: Mapping[str, Any],
            donation: Mapping[str, Any], study: Study, now_ms: int) -> str | None:
    """``None`` when ``donation`` permits ``study`` at ``now_ms``, else the reason."""
    if donation["status"] != "active":
        return "revoked"
    if now_ms < donation["period"]["start_ms"]:
        return "not_started"
    if now_ms >= donation["period"]["end_ms"]:
        return "expired"
    reason: str | None = permits(terms, diseases, donation["permission"], study["purpose"])
    if reason is not None:
        return reason
    modifiers: dict[str, Any] = {m["code"]: m.get("param") for m in donation["modifiers"]}
    if study["clinical_care"] and donation["permission"]["code"] != "NRES" \
            and "CC" not in modifiers:
        return "clinical_care"
    for code in sorted(modifiers):
        if not MODIFIER_RULES[code](study, modifiers[code]):
            return code
    return None
