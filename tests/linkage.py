"""A linker, as an insurer that runs a validator (issue 14): what chain bytes let a
consortium member attribute to a patient it knows.

Input: every byte a validator holds — every block's txs and results (events) and every
version of every state row (:func:`chain_documents`, read from a node's ``blocks.db`` and
``state.db``) — plus the observer's own knowledge (its enrollees' DIDs).

Method, written against shapes rather than today's field names so that it stays honest
when the design changes:

1. Every tx message (with the tx's signer), every event (with the signer) and every
   state row (key and value together) is one *document*. Every string in it (keys,
   values, key path segments) is scanned for identifiers: DIDs, 32-hex ids and 64-hex
   hashes or keys.
2. DIDs that the identity state files under a kind other than ``patient`` (a state key
   with a kind segment next to the DID) are *actors* — institutions, practitioners,
   authorities — that are learned as attributes, never joined through: every patient
   shares them.
3. Patient DIDs named in one document are joined (a link between two pseudonyms). An
   identifier that occurs in documents naming patients of two or more groups not so
   joined (a product id, an org's public key) is a *hub* and is not joined through.
4. All other identifiers of one document are joined (union-find). The enrollee's
   component is what the observer attributes to it; a component holding another
   patient's DID is reported as ``merged`` (the linker over-joined).
5. For each attributed identifier, the facts of every document naming it: actors,
   FHIR resource type names, categories, integers by field name (sizes, times) and
   heights.
"""

from __future__ import annotations

import re
import sqlite3
from collections import defaultdict
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from phrchain.core import encoding

DID_RE = re.compile(r"did:[a-z0-9]+:[A-Za-z0-9._%:-]+")
HEX_RE = re.compile(r"(?<![0-9a-f])(?:[0-9a-f]{64}|[0-9a-f]{32})(?![0-9a-f])")
KINDS = frozenset({"patient", "practitioner", "organization", "authority"})


@dataclass(frozen=True)
class Document:
    """One unit of chain bytes: a tx message, an event or a state row."""

    where: str                      # "msg" | "event" | "state"
    height: int
    value: Any                      # the decoded JSON (a state row: {"key": …, "value": …})


@dataclass
class Facts:
    """What the documents naming one identifier show."""

    actors: set[str] = field(default_factory=set)
    resource_types: set[str] = field(default_factory=set)
    categories: set[str] = field(default_factory=set)
    integers: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))
    heights: set[int] = field(default_factory=set)
    documents: int = 0


@dataclass
class Attribution:
    """What the observer attributes to one known patient DID."""

    patient: str
    identifiers: set[str]           # every non-DID identifier joined to the patient
    facts: dict[str, Facts]
    merged: set[str]                # other patient DIDs in the same component


# -- chain bytes ------------------------------------------------------------------------
def _decoded(raw: bytes) -> Any:
    try:
        return encoding.decode(raw)
    except Exception:  # a row that is not canonical JSON is scanned as text
        return raw.decode("utf-8", "replace")


def chain_documents(node_home: Path) -> Iterator[Document]:
    """Every tx message, event and state row version of a stopped solo node's stores."""
    data = node_home / "data"
    blocks = sqlite3.connect(f"file:{data / 'blocks.db'}?mode=ro", uri=True)
    try:
        for height, raw, result in blocks.execute(
                "SELECT height, raw, result FROM txs ORDER BY height, idx"):
            tx, res = _decoded(bytes(raw)), _decoded(bytes(result))
            signer = tx.get("signer", "") if isinstance(tx, dict) else ""
            for msg in tx.get("msgs", []) if isinstance(tx, dict) else [tx]:
                yield Document("msg", height, {"signer": signer, "msg": msg})
            events = res.get("events", []) if isinstance(res, dict) else []
            for event in events:
                yield Document("event", height, {"signer": signer, "event": event})
            rest = {k: v for k, v in res.items() if k != "events"} \
                if isinstance(res, dict) else res
            yield Document("event", height, {"signer": signer, "result": rest})
    finally:
        blocks.close()
    state = sqlite3.connect(f"file:{data / 'state.db'}?mode=ro", uri=True)
    try:
        for key, height, value in state.execute("SELECT key, height, value FROM kv"):
            decoded = None if value is None else _decoded(bytes(value))
            yield Document("state", height, {"key": bytes(key).decode("utf-8", "replace"),
                                             "value": decoded})
    finally:
        state.close()


# -- scanning ---------------------------------------------------------------------------
def _walk(value: Any) -> Iterator[tuple[str, Any]]:
    """(field name, scalar) for every scalar, dict keys included as scalars."""
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        name, v = stack.pop()
        if isinstance(v, dict):
            for k, item in v.items():
                yield "", k
                stack.append((k, item))
        elif isinstance(v, list):
            stack.extend((name, item) for item in v)
        else:
            yield name, v


def identifiers(text: str) -> set[str]:
    """DIDs, 32-hex ids and 64-hex hashes in ``text`` (a DID's own characters are not
    rescanned for hex)."""
    dids = set(DID_RE.findall(text))
    rest = DID_RE.sub(" ", text)
    return dids | set(HEX_RE.findall(rest))


def _scan(doc: Document) -> tuple[set[str], list[tuple[str, Any]]]:
    found: set[str] = set()
    scalars = list(_walk(doc.value))
    for _, v in scalars:
        if isinstance(v, str):
            found |= identifiers(v)
    return found, scalars


def _kinds(docs: Iterable[tuple[Document, set[str]]]) -> dict[str, str]:
    """DID → kind, from state keys that put a kind segment next to a DID."""
    kinds: dict[str, str] = {}
    for doc, _ in docs:
        if doc.where != "state":
            continue
        parts = set(str(doc.value["key"]).split("/"))
        kind = next(iter(parts & KINDS), None)
        if kind is None:
            continue
        for did in DID_RE.findall(str(doc.value["key"])):
            kinds.setdefault(did, kind)
    return kinds


class _Union:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def join(self, items: Iterable[str]) -> None:
        first = None
        for item in items:
            root = self.find(item)
            if first is None:
                first = root
            elif root != first:
                self.parent[root] = first


# -- linking ----------------------------------------------------------------------------
def link(documents: Iterable[Document], known: Collection[str],
         resource_types: Collection[str], categories: Collection[str]
         ) -> dict[str, Attribution]:
    """For each DID in ``known``, what the documents attribute to it (module docstring).
    ``resource_types`` and ``categories`` are the public vocabularies the observer
    matches values against."""
    scanned = [(doc, *_scan(doc)) for doc in documents]
    kinds = _kinds((doc, ids) for doc, ids, _ in scanned)
    actors = {did for did, kind in kinds.items() if kind != "patient"}
    # Patient DIDs named together in one document are joined first (a link such as a
    # claim's between two pseudonyms); an identifier is a hub when its documents name
    # patients of two such groups that nothing else joins.
    groups = _Union()
    for _, ids, _ in scanned:
        groups.join(i for i in ids if i.startswith("did:") and i not in actors)
    patients_of: dict[str, set[str]] = defaultdict(set)
    for _, ids, _ in scanned:
        pats = {groups.find(i) for i in ids if i.startswith("did:") and i not in actors}
        for i in ids:
            patients_of[i] |= pats
    hubs = {i for i, pats in patients_of.items() if len(pats) > 1
            and not i.startswith("did:")}
    union = _Union()
    for _, ids, _ in scanned:
        union.join(i for i in ids if i not in actors and i not in hubs)
    members: dict[str, set[str]] = defaultdict(set)
    for i in union.parent:
        members[union.find(i)].add(i)
    out: dict[str, Attribution] = {}
    for did in known:
        component = members.get(union.find(did), {did})
        ids = {i for i in component if not i.startswith("did:")}
        merged = {i for i in component if i.startswith("did:") and i != did}
        out[did] = Attribution(did, ids, {i: Facts() for i in ids}, merged)
    wanted = {i: out[did] for did in known for i in out[did].identifiers}
    types, cats = frozenset(resource_types), frozenset(categories)
    for doc, ids, scalars in scanned:
        hit = ids & wanted.keys()
        if not hit:
            continue
        for i in hit:
            f = wanted[i].facts[i]
            f.documents += 1
            f.heights.add(doc.height)
            f.actors |= ids & actors
            for name, v in scalars:
                if isinstance(v, bool):
                    continue
                if isinstance(v, int):
                    f.integers[name].add(v)
                elif isinstance(v, str):
                    if v in types:
                        f.resource_types.add(v)
                    if v in cats:
                        f.categories.add(v)
    return out


def vocabulary_hits(documents: Iterable[Document], words: Collection[str]) -> int:
    """How many documents hold a string of ``words`` (e.g. FHIR resource type names) as a
    whole value, or as a segment of a state key."""
    vocabulary = frozenset(words)
    hits = 0
    for doc in documents:
        strings = [v for _, v in _walk(doc.value) if isinstance(v, str)]
        segments = {part for v in strings for part in v.split("/")}
        hits += bool(vocabulary & (set(strings) | segments))
    return hits


def actor_kinds(documents: Iterable[Document]) -> dict[str, str]:
    """DID → kind as the identity state files it (for reports)."""
    return _kinds((doc, set()) for doc in documents)


def summary(attributions: Mapping[str, Attribution], records: Mapping[str, str],
            named: Mapping[str, Collection[str]], kinds: Mapping[str, str],
            person_of: Mapping[str, str] | None = None,
            custodian: Mapping[str, str] | None = None,
            author: Mapping[str, str] | None = None) -> dict[str, int]:
    """Counts over all enrollees. ``records``: every record id → its owner DID (the
    bench's ground truth); ``named``: enrollee → record ids it named in claims.

    With per-relationship pseudonyms one person has several DIDs: ``person_of`` maps
    every DID to its person (default: each DID is its own person), so that a record
    owned by the enrollee's hospital pseudonym counts as the enrollee's own, and a
    component joining two DIDs of one person is not an over-join. ``custodian`` (record →
    institution) adds ``linked_at_unnamed_institution``: linked records held at an
    institution none of whose records the enrollee named to the insurer (issue 14: 0).
    ``author`` (record → the practitioner who wrote it) adds ``not_named_author_learned``:
    unnamed records whose true author is among the practitioners the linker saw with
    them (``not_named_with_author`` counts any practitioner, e.g. a push's recipient)."""
    person = (lambda did: person_of.get(did, did)) if person_of is not None \
        else (lambda did: did)
    out = {"enrollees": len(attributions), "enrollee_records": 0, "named": 0,
           "linked": 0, "linked_not_named": 0, "linked_wrong_patient": 0,
           "linked_at_unnamed_institution": 0,
           "not_named_with_type": 0, "not_named_with_category": 0,
           "not_named_with_author": 0, "not_named_author_learned": 0,
           "not_named_with_size": 0,
           "not_named_with_second_practitioner": 0, "merged_components": 0,
           "linked_identifiers": 0, "linked_actors": 0}
    for did, a in attributions.items():
        who = person(did)
        own = {r for r, p in records.items() if person(p) == who}
        linked = a.identifiers & records.keys()
        mine_named = set(named.get(did, ()))
        not_named = linked - mine_named
        out["enrollee_records"] += len(own)
        out["named"] += len(mine_named)
        out["linked"] += len(linked & own)
        out["linked_wrong_patient"] += len(linked - own)
        out["linked_not_named"] += len(not_named)
        if custodian is not None:
            places = {custodian[r] for r in mine_named if r in custodian}
            out["linked_at_unnamed_institution"] += sum(
                1 for r in linked if custodian.get(r) not in places)
        out["merged_components"] += any(person(m) != who for m in a.merged)
        out["linked_identifiers"] += len(a.identifiers)
        out["linked_actors"] += len(set().union(*(f.actors for f in a.facts.values())))
        for r in not_named:
            f = a.facts[r]
            out["not_named_with_type"] += bool(f.resource_types)
            out["not_named_with_category"] += bool(f.categories)
            practitioners = {x for x in f.actors if kinds.get(x) == "practitioner"}
            out["not_named_with_author"] += bool(practitioners)
            if author is not None:
                out["not_named_author_learned"] += author.get(r) in practitioners
            out["not_named_with_size"] += bool(f.integers.get("size"))
            out["not_named_with_second_practitioner"] += len(practitioners) > 1
    return out
