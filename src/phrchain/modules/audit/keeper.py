"""The only code that reads or writes the ``audit/`` key prefix: one RFC 9162 log per
patient, committed in the app hash.

State layout::

    audit/head/<patient>                -> {"size", "root", "frontier"} (hex hashes)
    audit/leaf/<patient>/<index:016x>   -> the leaf bytes (canonical JSON)
    audit/req/<request hash>            -> b"1"   requests already logged (idempotence)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final

from phrchain.core import encoding, rfc9162
from phrchain.core.state import Overlay, Reader

_HEAD: Final = b"audit/head/"
_LEAF: Final = b"audit/leaf/"
_REQ: Final = b"audit/req/"


def head_key(patient: str) -> bytes:
    return _HEAD + patient.encode()


def leaf_key(patient: str, index: int) -> bytes:
    return _LEAF + patient.encode() + b"/" + f"{index:016x}".encode()


def head(state: Reader, patient: str) -> dict[str, Any]:
    raw = state.get(head_key(patient))
    if raw is None:
        return {"size": 0, "root": rfc9162.EMPTY_ROOT.hex(), "frontier": []}
    decoded: dict[str, Any] = encoding.decode(raw)
    return decoded


def append(state: Overlay, patient: str, leaf: bytes) -> int:
    """Append ``leaf`` to ``patient``'s log; return its index. O(log n)."""
    h = head(state, patient)
    frontier = rfc9162.CompactRange.from_hashes(h["size"],
                                                (bytes.fromhex(x) for x in h["frontier"]))
    index = frontier.size
    frontier.append(rfc9162.leaf_hash(leaf))
    state.set(leaf_key(patient, index), leaf)
    state.set(head_key(patient), encoding.encode_trusted({
        "size": frontier.size, "root": frontier.root().hex(),
        "frontier": [x.hex() for x in frontier.to_hashes()]}))
    return index


def leaf(state: Reader, patient: str, index: int) -> bytes | None:
    return state.get(leaf_key(patient, index))


def leaves(state: Reader, patient: str, start: int = 0) -> Iterator[tuple[int, bytes]]:
    prefix = _LEAF + patient.encode() + b"/"
    for key, value in state.iterate(prefix, prefix + f"{start:016x}".encode()):
        yield int(key[len(prefix):], 16), value


def seen(state: Reader, request: str) -> bool:
    return state.get(_REQ + request.encode()) is not None


def mark(state: Overlay, request: str) -> None:
    state.set(_REQ + request.encode(), b"1")
