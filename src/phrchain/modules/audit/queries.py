"""Audit queries: signed tree heads, entries, inclusion and consistency proofs.

A tree head is ``audit/head`` at some height, provable against that height's app hash
(``prove=true``). Proofs are computed from the stored leaves at the queried height, so
they verify against the head of that same height.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from phrchain.core import encoding, rfc9162
from phrchain.core.errors import BAD_QUERY
from phrchain.core.module import Query, QueryResult
from phrchain.core.state import Reader
from phrchain.modules.audit import keeper, keys
from phrchain.modules.paging import MAX_LIMIT, number, text


def _leaf_hashes(state: Reader, patient: str, size: int) -> list[bytes]:
    hashes = []
    for index, leaf in keeper.leaves(state, patient):
        if index >= size:
            break
        hashes.append(rfc9162.leaf_hash(leaf))
    return hashes


def head(state: Reader, data: Mapping[str, Any]) -> QueryResult:
    patient = text(data, "patient")
    h = keeper.head(state, patient)
    return QueryResult({"patient": patient, "size": h["size"], "root": h["root"]},
                       keys.head_key(patient))


def entry(state: Reader, data: Mapping[str, Any]) -> QueryResult:
    """One leaf, with its inclusion proof in the log as it stands at this height."""
    patient, index = text(data, "patient"), number(data, "index")
    raw = keeper.leaf(state, patient, index)
    if raw is None:
        return QueryResult(None, keys.leaf_key(patient, index))
    h = keeper.head(state, patient)
    proof = rfc9162.inclusion_proof(_leaf_hashes(state, patient, h["size"]), index,
                                    h["size"])
    return QueryResult({"patient": patient, "index": index, "leaf": raw.hex(),
                        "entry": encoding.decode(raw), "size": h["size"], "root": h["root"],
                        "inclusion": [p.hex() for p in proof]},
                       keys.leaf_key(patient, index))


def entries(state: Reader, data: Mapping[str, Any]) -> QueryResult:
    """Leaves from ``start`` (default 0), at most ``limit``; ``next`` is the next index."""
    patient = text(data, "patient")
    start, limit = number(data, "start", 0), number(data, "limit", 100)
    if not 1 <= limit <= MAX_LIMIT:
        raise BAD_QUERY(f"'limit' must be an integer from 1 to {MAX_LIMIT}")
    out: list[dict[str, Any]] = []
    nxt = None
    for index, raw in keeper.leaves(state, patient, start):
        if len(out) == limit:
            nxt = index
            break
        out.append({"index": index, "leaf": raw.hex(), "entry": encoding.decode(raw)})
    h = keeper.head(state, patient)
    return QueryResult({"patient": patient, "size": h["size"], "root": h["root"],
                        "entries": out, "next": nxt})


def consistency(state: Reader, data: Mapping[str, Any]) -> QueryResult:
    """Proof that the log of ``size1`` leaves is a prefix of the log at this height."""
    patient, size1 = text(data, "patient"), number(data, "size1")
    h = keeper.head(state, patient)
    size2 = number(data, "size2", h["size"])
    if not 0 < size1 <= size2 <= h["size"]:
        raise BAD_QUERY(f"need 0 < size1 <= size2 <= {h['size']}")
    proof = rfc9162.consistency_proof(_leaf_hashes(state, patient, size2), size1, size2)
    return QueryResult({"patient": patient, "size1": size1, "size2": size2,
                        "proof": [p.hex() for p in proof]})


QUERIES: Final[Mapping[str, Query]] = {"head": head, "entry": entry, "entries": entries,
                                       "consistency": consistency}
