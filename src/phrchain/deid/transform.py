"""Apply a configuration's rules to one patient's resources.

Every leaf value is decided by the first rule (in configuration order) that selects it
or one of its ancestors; a container left empty is dropped. Ids and references become
keyed per-study pseudonyms (one mapping for the whole dataset, so references stay
consistent); every date of the patient moves by the patient's offset for this dataset.
Each output resource carries ``meta.security`` PSEUDED and nothing else in ``meta``.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Final

from phrchain.deid.config import Config, Rule
from phrchain.deid.pseudonyms import study_pseudonym

PSEUDED: Final = {"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
                  "code": "PSEUDED", "display": "pseudonymized"}
DATE: Final = re.compile(r"(\d{4})(-(\d{2})(-(\d{2})(T[0-9:.]+(Z|[+-]\d{2}:\d{2})?)?)?)?")
_REMOVED: Final = object()
KEEP_COMPILED: Final = 8         # configurations whose transformers are kept
MAX_PATHS: Final = 50_000        # element paths a kept transformer may learn
_COMPILED: dict[str, Transformer] = {}
_COMPILED_LOCK: Final = threading.Lock()
# Element names R4 gives these data types (the subset nodesByType recognises).
_BY_NAME: Final = {"identifier": "Identifier", "telecom": "ContactPoint",
                   "address": "Address", "note": "Annotation", "photo": "Attachment"}


@dataclass
class Patient:
    """What the rules need about the patient whose resources are transformed."""

    key: bytes
    study: str
    offset_days: int
    reference_year: int
    refs: Mapping[str, str]          # bundle fullUrl -> "Type/id" (source ids)
    changes: Counter[str] = field(default_factory=Counter)
    ids: dict[str, str] = field(default_factory=dict)   # "Type/id" -> its pseudonym
    # (rule, path, string) -> (result, changed): a patient's dates and references recur
    done: dict[tuple[int, object, str], tuple[Any, bool]] = field(default_factory=dict)


def pseudonymous_id(p: Patient, resource_type: str, source_id: str) -> str:
    name = f"{resource_type}/{source_id}"
    found = p.ids.get(name)
    if found is None:
        found = p.ids[name] = study_pseudonym(p.key, p.study, "id", name)
    return found


def rewrite_reference(p: Patient, reference: str) -> str | None:
    """``Type/pseudonym`` of a reference the dataset can resolve, else None (dropped)."""
    target = p.refs.get(reference, reference)
    kind, _, source = target.partition("/")
    if not kind.isalpha() or not source or "/" in source:
        return None
    return f"{kind}/{pseudonymous_id(p, kind, source)}"


def _types(name: str | None, node: Any) -> tuple[str, ...]:
    """The data types nodesByType recognises ``node`` as (most nodes: none)."""
    found: tuple[str, ...] = ()
    by_name = _BY_NAME.get(name) if name is not None else None
    if by_name is not None:
        found += (by_name,)
    if isinstance(node, dict):
        if "reference" in node:
            found += ("Reference",)
        if "contentType" in node:
            found += ("Attachment",)
        if name == "name":
            found += ("HumanName",)
    elif isinstance(node, list):
        if name == "name" and node and all(isinstance(i, dict) for i in node):
            found += ("HumanName",)
    elif isinstance(node, str) and name != "id" and node[:1].isdigit() \
            and DATE.fullmatch(node):
        found += ("date",)
    return found


class _Path:
    """One element path of one resource type, with the decisions made at it: the walk
    steps from path to path by element name (no tuple built and hashed per node). A
    scalar's data types depend only on its name and whether it is a date: ``plain``
    and ``dated`` hold those decisions by the ancestors' decider."""

    __slots__ = ("children", "dated", "decided", "elements", "grown", "may_date", "plain",
                 "types", "types_dated")

    def __init__(self, elements: tuple[str, ...], grown: list[int]) -> None:
        grown[0] += 1                    # the paths of the whole trie (a bound for a cache)
        self.grown = grown
        name = elements[-1] if elements else None
        by_name = _BY_NAME.get(name) if name is not None else None
        self.elements = elements
        self.children: dict[str, _Path] = {}
        self.decided: dict[tuple[tuple[str, ...], int | None], int | None] = {}
        self.types: tuple[str, ...] = (by_name,) if by_name is not None else ()
        self.types_dated = (*self.types, "date")
        self.may_date = name != "id"
        self.plain: dict[int | None, int | None] = {}
        self.dated: dict[int | None, int | None] = {}

    def child(self, name: str) -> _Path:
        found = self.children.get(name)
        if found is None:
            found = self.children[name] = _Path((*self.elements, name), self.grown)
        return found


def compiled(config: Config) -> Transformer:
    """The transformer of ``config``, shared by every dataset released under the same
    configuration (its digest): the rule decisions per element path are learnt once per
    configuration, not once per dataset. They hold no patient's data — results of
    rules are kept per patient (:class:`Patient`) — and a trie grown past
    ``MAX_PATHS`` (unusual elements) is started afresh."""
    digest = config.digest
    with _COMPILED_LOCK:
        found = _COMPILED.get(digest)
        if found is None or found.paths > MAX_PATHS:
            if found is None and len(_COMPILED) >= KEEP_COMPILED:
                _COMPILED.pop(next(iter(_COMPILED)))
            found = _COMPILED[digest] = Transformer(config)
        return found


class Transformer:
    def __init__(self, config: Config) -> None:
        self.config = config
        # Rule indices by what selects a node: (resource type or None, element path), or
        # a data type; the first (lowest) index among a node's candidates decides.
        self._by_path: dict[tuple[str | None, tuple[str, ...]], int] = {}
        self._by_type: dict[str, int] = {}
        # The decisions per element path: a dataset's resources repeat a few hundred
        self._roots: dict[str, _Path] = {}
        self._grown = [0]
        self._labels = tuple(f"{rule.path} {rule.method}" for rule in config.rules)
        # rules whose result for a value is worth keeping per patient (the rest are cheap)
        self._recurring = frozenset(i for i, rule in enumerate(config.rules) if rule.method
                                    in ("dateShift", "cryptoHash", "generalize"))
        for i, rule in enumerate(config.rules):
            if rule.node_type is not None:
                self._by_type.setdefault(rule.node_type, i)
            else:
                self._by_path.setdefault((rule.resource, rule.elements), i)

    @property
    def paths(self) -> int:
        return self._grown[0]

    def _first_rule(self, rtype: str, elements: tuple[str, ...], types: tuple[str, ...],
                    decider: int | None) -> int | None:
        best = decider
        for i in (self._by_path.get((rtype, elements)), self._by_path.get((None, elements)),
                  *(self._by_type.get(t) for t in types)):
            if i is not None and (best is None or i < best):
                best = i
        return best

    def resource(self, resource: Mapping[str, Any], p: Patient) -> dict[str, Any]:
        rtype = str(resource["resourceType"])
        root = self._roots.get(rtype)
        if root is None:
            root = self._roots[rtype] = _Path((), self._grown)
        out: dict[str, Any] = {"resourceType": rtype}
        for name, value in resource.items():
            if name in ("resourceType", "meta"):
                continue
            done = self._walk(value, rtype, root.child(name), None, name, p)
            if done is not _REMOVED:
                out[name] = done
        out["meta"] = {"security": [dict(PSEUDED)]}
        return out

    def _decide(self, rtype: str, path: _Path, types: tuple[str, ...],
                decider: int | None) -> int | None:
        memo = (types, decider)
        try:
            return path.decided[memo]
        except KeyError:
            found = path.decided[memo] = self._first_rule(rtype, path.elements, types,
                                                          decider)
            return found

    def _walk(self, node: Any, rtype: str, path: _Path, decider: int | None,
              name: str | None, p: Patient) -> Any:
        decider = self._decide(rtype, path, _types(name, node), decider)
        if isinstance(node, dict):
            out = {}
            children = path.children
            for key, value in node.items():
                child = children.get(key) or path.child(key)
                if isinstance(value, (dict, list)):
                    done = self._walk(value, rtype, child, decider, key, p)
                else:        # a scalar, inline: most nodes are (the same steps as below)
                    if child.may_date and isinstance(value, str) and value[:1].isdigit() \
                            and DATE.fullmatch(value):
                        table, types = child.dated, child.types_dated
                    else:
                        table, types = child.plain, child.types
                    found = table[decider] if decider in table else table.setdefault(
                        decider, self._first_rule(rtype, child.elements, types, decider))
                    done = value if found is None else self._apply(found, value, rtype,
                                                                   child, p)
                if done is not _REMOVED:
                    out[key] = done
            return out or _REMOVED
        if isinstance(node, list):
            items = [self._walk(v, rtype, path, decider, name, p) for v in node]
            kept = [v for v in items if v is not _REMOVED]
            return kept or _REMOVED
        if decider is None:
            return node
        return self._apply(decider, node, rtype, path, p)

    def _apply(self, decider: int, node: Any, rtype: str, path: _Path, p: Patient) -> Any:
        if decider in self._recurring and isinstance(node, str):
            memo = (decider, path, node)
            found = p.done.get(memo)
            if found is None:
                done = self._leaf(self.config.rules[decider], node, rtype, path.elements, p)
                found = p.done[memo] = (done, done is not node)
            done, changed = found
        else:
            done = self._leaf(self.config.rules[decider], node, rtype, path.elements, p)
            changed = done is not node
        if changed:
            p.changes[self._labels[decider]] += 1
        return done

    def _leaf(self, rule: Rule, value: Any, rtype: str, elements: tuple[str, ...],
              p: Patient) -> Any:
        name = elements[-1]
        method = rule.method
        if method == "keep" or name == "resourceType":
            return value
        if method == "redact":
            return _REMOVED
        if method == "substitute":
            return rule.replace_with
        if method == "cryptoHash":
            return self._hash(value, rtype, elements, p)
        if not isinstance(value, str):
            return _REMOVED
        if method == "dateShift":
            return shift(value, p.offset_days) if DATE.fullmatch(value) else _REMOVED
        return generalize(rule.to or "", value, p.reference_year,
                          self.config.restricted_zip3)

    @staticmethod
    def _hash(value: Any, rtype: str, elements: tuple[str, ...], p: Patient) -> Any:
        name = elements[-1]
        if elements == ("id",) and isinstance(value, str):
            return pseudonymous_id(p, rtype, value)
        if name == "reference" and isinstance(value, str):
            done = rewrite_reference(p, value)
            return _REMOVED if done is None else done
        if name == "type":
            return value                     # a Reference's target type
        if name == "display":
            return _REMOVED                  # a display may name a person
        return study_pseudonym(p.key, p.study, "value", str(value))


def shift(value: str, days: int) -> str:
    """``value`` moved by ``days``, keeping its precision (a year or a year-month is
    reduced to the year: it cannot move by days)."""
    m = DATE.fullmatch(value)
    assert m is not None
    if m.group(5) is None:
        return m.group(1)
    moved = date(int(m.group(1)), int(m.group(3)), int(m.group(5))) + timedelta(days=days)
    return moved.isoformat() + (m.group(6) or "")


def generalize(to: str, value: str, reference_year: int, restricted: frozenset[str]) -> Any:
    if to == "zip3":
        digits = "".join(c for c in value if c.isdigit())
        zone = digits[:3]
        return "000" if len(zone) < 3 or zone in restricted else zone
    m = DATE.fullmatch(value)
    if m is None:
        return _REMOVED
    year = int(m.group(1))
    if to == "decade":
        return str(year - year % 10)
    if to == "year_age90" and reference_year - year >= 90:
        return str(reference_year - 90)      # Safe Harbor: every age over 89 is "90+"
    return str(year)
