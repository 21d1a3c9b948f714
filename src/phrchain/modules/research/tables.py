"""The pinned terms tables of the research parameters (stateless checks): the DUO
release and the disease hierarchy, as ``research/set_params`` and genesis carry them."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from phrchain.modules import fields
from phrchain.modules.research import duo
from phrchain.modules.research.errors import INVALID_FIELD

MAX_TERMS: Final = 4096          # diseases in a pinned hierarchy
_MONDO: Final = re.compile(r"MONDO:[0-9]{7}")
_DUO_ID: Final = re.compile(r"DUO:[0-9]{7}")


def text(msg: Mapping[str, Any], name: str, high: int) -> str:
    value = msg.get(name)
    if not isinstance(value, str) or not 1 <= len(value) <= high or not value.isprintable():
        raise INVALID_FIELD(f"{name} must be 1 to {high} printable characters")
    return value


def check_terms(value: Any) -> dict[str, Any]:
    """The DUO table: ``{release, source?, codes: {code: {id, kind, param, label}},
    permits: {permission: [purposes]}}``; every code one this code base knows."""
    if not isinstance(value, dict):
        raise INVALID_FIELD("terms must be an object")
    fields.exact(value, INVALID_FIELD, ("release", "codes", "permits"), ("source",))
    text(value, "release", 64)
    codes = fields.mapping(value, "codes", INVALID_FIELD)
    for code, entry in codes.items():
        if code not in duo.PARAM_KINDS or not isinstance(entry, dict):
            raise INVALID_FIELD(f"terms: {code!r} is not a DUO code this release knows")
        fields.exact(entry, INVALID_FIELD, ("id", "kind", "param", "label"))
        fields.matching(entry, "id", _DUO_ID, INVALID_FIELD, "a DUO id")
        kind = "permission" if code in duo.PERMISSIONS else "modifier"
        if entry["kind"] != kind or entry["param"] != duo.PARAM_KINDS[code]:
            raise INVALID_FIELD(f"terms: {code} is a {kind} with parameter "
                                f"{duo.PARAM_KINDS[code]}")
        text(entry, "label", 128)
    permits = fields.mapping(value, "permits", INVALID_FIELD)
    for code, purposes in permits.items():
        if code not in codes or code not in duo.PERMISSIONS or not isinstance(purposes, list) \
                or not all(isinstance(p, str) and p in duo.PURPOSES for p in purposes):
            raise INVALID_FIELD(f"terms.permits: {code!r} must be a permission of the table "
                                f"mapped to purposes among {sorted(duo.PURPOSES)}")
    return value


def check_diseases(value: Any) -> dict[str, Any]:
    """The disease hierarchy: ``{release, source?, labels: {id: label}, parents: {id:
    [ids]}}``, acyclic, at most MAX_TERMS terms."""
    if not isinstance(value, dict):
        raise INVALID_FIELD("diseases must be an object")
    fields.exact(value, INVALID_FIELD, ("release", "labels", "parents"), ("source",))
    text(value, "release", 64)
    labels = fields.mapping(value, "labels", INVALID_FIELD)
    parents = fields.mapping(value, "parents", INVALID_FIELD)
    if len(labels) > MAX_TERMS or set(labels) != set(parents) \
            or not all(_MONDO.fullmatch(t) and isinstance(n, str) for t, n in labels.items()):
        raise INVALID_FIELD("diseases: labels and parents must name the same MONDO ids")
    for term, ups in parents.items():
        if not isinstance(ups, list) or not all(isinstance(u, str) and u in labels
                                                for u in ups):
            raise INVALID_FIELD(f"diseases: the parents of {term} must be listed terms")
    _acyclic(parents)
    return value


def _acyclic(parents: Mapping[str, list[str]]) -> None:
    depth: dict[str, int] = {}

    def walk(term: str, trail: frozenset[str]) -> int:
        if len(trail) > duo.MAX_DEPTH:
            raise INVALID_FIELD(f"diseases: deeper than {duo.MAX_DEPTH}")
        if term in trail:
            raise INVALID_FIELD(f"diseases: a cycle through {term}")
        if term not in depth:
            below = [walk(p, trail | {term}) for p in parents[term]]
            depth[term] = 1 + max(below, default=0)
        return depth[term]

    for term in sorted(parents):
        walk(term, frozenset())
