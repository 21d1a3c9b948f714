"""The only code that reads or writes the ``audit/`` key prefix: one RFC 9162 log per
patient, committed in the app hash.

State layout::

    audit/head/<patient>                -> {"size", "root", "frontier"} (hex hashes)
    audit/leaf/<patient>/<index:016x>   -> the leaf bytes (canonical JSON of
                                           {patient, index, height, vault, request,
                                            commitment, sealed}; README)
    audit/req/<request hash>            -> b"1"   requests already logged (idempotence)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final, TypedDict

from phrchain.core import rfc9162
from phrchain.core.state import Overlay, Reader
from phrchain.modules.audit.keys import head_key, leaf_key, leaf_prefix, request_key
from phrchain.modules.table import json_get, json_put

_MARK: Final = b"1"


class Head(TypedDict):
    """A patient's log head at ``audit/head/<patient>``: the RFC 9162 tree size, root and
    compact-range frontier (hex hashes)."""

    size: int
    root: str
    frontier: list[str]


def head(state: Reader, patient: str) -> Head:
    found: Head | None = json_get(state, head_key(patient))
    if found is None:
        return {"size": 0, "root": rfc9162.EMPTY_ROOT.hex(), "frontier": []}
    return found


def append(state: Overlay, patient: str, leaf: bytes) -> int:
    """Append ``leaf`` to ``patient``'s log; return its index. O(log n)."""
    h = head(state, patient)
    frontier = rfc9162.CompactRange.from_hashes(h["size"],
                                                (bytes.fromhex(x) for x in h["frontier"]))
    index = frontier.size
    frontier.append(rfc9162.leaf_hash(leaf))
    state.set(leaf_key(patient, index), leaf)
    updated: Head = {"size": frontier.size, "root": frontier.root().hex(),
                     "frontier": [x.hex() for x in frontier.to_hashes()]}
    json_put(state, head_key(patient), updated)
    return index


def leaf(state: Reader, patient: str, index: int) -> bytes | None:
    return state.get(leaf_key(patient, index))


def leaves(state: Reader, patient: str, start: int = 0) -> Iterator[tuple[int, bytes]]:
    prefix = leaf_prefix(patient)
    for key, value in state.iterate(prefix, prefix + f"{start:016x}".encode()):
        yield int(key[len(prefix):], 16), value


def seen(state: Reader, request: str) -> bool:
    return state.get(request_key(request)) is not None


def mark(state: Overlay, request: str) -> None:
    state.set(request_key(request), _MARK)
