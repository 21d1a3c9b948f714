"""The state-store protocol and an in-memory implementation (also the test double).

A state store keeps every committed version of a key-value map and commits to each
version with the root of a sparse Merkle tree (``smt.py``): that root is the app hash.
Writes for a block are *staged* (root computed, nothing durable), then *committed*
atomically, or discarded. Reads and proofs are served at any retained height.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Mapping
from typing import Protocol

from phrchain.core import smt
from phrchain.core.accel import native as _native
from phrchain.core.errors import HEIGHT_UNAVAILABLE, ProofError

Changes = Mapping[bytes, bytes | None]


def smt_batch(changes: Changes) -> dict[bytes, bytes | None]:
    """Exactly :func:`smt_batch_reference`, compiled when :mod:`phrchain.core.accel` chose
    ``phrchain_native`` (keys and values other than ``bytes`` take the reference)."""
    if _native is not None and type(changes) is dict:
        try:
            batch: dict[bytes, bytes | None] = _native.smt_batch(changes)
        except TypeError:
            pass
        else:
            return batch
    return smt_batch_reference(changes)


def smt_batch_reference(changes: Changes) -> dict[bytes, bytes | None]:
    """State changes as sparse-Merkle-tree changes: key path -> value hash (None = delete)."""
    return {smt.key_path(k): (None if v is None else smt.value_hash(v))
            for k, v in changes.items()}


class StateStore(Protocol):
    """What the application needs from storage. ``storage.sqlite`` implements it on disk."""

    def version(self) -> int:
        """Height of the last committed version; genesis is version 0, -1 = nothing yet."""
        ...

    def root(self, height: int | None = None) -> bytes:
        """App hash at ``height`` (default: last committed)."""
        ...

    def get(self, key: bytes, height: int | None = None) -> bytes | None: ...

    def iterate(self, prefix: bytes, height: int | None = None, start: bytes | None = None
                ) -> Iterator[tuple[bytes, bytes]]:
        """Live ``(key, value)`` pairs under ``prefix`` with key >= ``start``, in
        ascending key order, produced lazily (a caller may stop after a page)."""
        ...

    def stage(self, height: int, changes: Changes) -> bytes:
        """Compute the root after applying ``changes`` on top of the last committed
        version, hold them as pending version ``height``; return the new root."""
        ...

    def commit(self) -> None:
        """Make the staged version durable and current, atomically."""
        ...

    def discard(self) -> None: ...

    def prove(self, key: bytes, height: int | None = None) -> smt.SmtProof: ...


class MemoryStateStore:
    """A complete in-memory :class:`StateStore` keeping every version."""

    def __init__(self) -> None:
        self._nodes = smt.MemoryNodeStore()               # (version, hash) -> body
        self._roots: list[smt.NodeRef] = []               # index = height
        self._history: dict[bytes, list[tuple[int, bytes | None]]] = {}
        self._staged: tuple[int, smt.NodeRef, Changes, dict[smt.NodeRef, bytes]] | None \
            = None
        self._base = 0  # the lowest retained version (an imported snapshot's height)

    def version(self) -> int:
        return len(self._roots) - 1

    def _height(self, height: int | None) -> int:
        top = self.version()
        if height is None:
            return top
        if not self._base <= height <= top:
            raise HEIGHT_UNAVAILABLE(f"height {height} (have {self._base}..{top})")
        return height

    def root(self, height: int | None = None) -> bytes:
        return self._root_ref(height)[1]

    def _root_ref(self, height: int | None) -> smt.NodeRef:
        if not self._roots and height is None:
            return smt.EMPTY_REF
        return self._roots[self._height(height)]

    def get(self, key: bytes, height: int | None = None) -> bytes | None:
        h = self._height(height)
        versions = self._history.get(key)
        if not versions:
            return None
        i = bisect.bisect_right(versions, h, key=lambda v: v[0])
        return versions[i - 1][1] if i else None

    def iterate(self, prefix: bytes, height: int | None = None, start: bytes | None = None
                ) -> Iterator[tuple[bytes, bytes]]:
        h = self._height(height)
        low = prefix if start is None or start < prefix else start
        for key in sorted(k for k in self._history if k.startswith(prefix) and k >= low):
            value = self.get(key, h)
            if value is not None:
                yield key, value

    def stage(self, height: int, changes: Changes) -> bytes:
        if height != self.version() + 1:
            raise ValueError(f"can only stage height {self.version() + 1}, not {height}")
        root, nodes = smt.update(self._nodes, self._root_ref(None), smt_batch(changes),
                                 height)
        self._staged = (height, root, dict(changes), nodes)
        return root[1]

    def commit(self) -> None:
        if self._staged is None:
            raise ValueError("nothing staged")
        height, root, changes, nodes = self._staged
        self._nodes.put_many(nodes)
        for key, value in changes.items():
            self._history.setdefault(key, []).append((height, value))
        self._roots.append(root)
        self._staged = None

    def discard(self) -> None:
        self._staged = None

    def import_version(self, height: int, pairs: Mapping[bytes, bytes],
                       expected_root: bytes) -> None:
        """Make an empty store hold ``pairs`` as version ``height``, the first it retains
        (a state-sync snapshot); refused, with nothing kept, unless their root is
        ``expected_root``."""
        if self._roots or self._staged is not None:
            raise ValueError("only an empty store imports a snapshot")
        root, nodes = smt.update(self._nodes, smt.EMPTY_REF, smt_batch(pairs), height)
        if root[1] != expected_root:
            raise ProofError(f"the snapshot's root {root[1].hex()} is not the trusted app "
                             f"hash {expected_root.hex()}")
        self._nodes.put_many(nodes)
        for key, value in pairs.items():
            self._history[key] = [(height, value)]
        self._roots = [smt.EMPTY_REF] * height + [root]  # below the base: never read
        self._base = height

    def prove(self, key: bytes, height: int | None = None) -> smt.SmtProof:
        return smt.prove(self._nodes, self._root_ref(height), smt.key_path(key))

    # Every committed row, in the order and shape of the SQLite store's tables, so a
    # replay can be compared with a database byte for byte (storage.integrity).
    def kv_rows(self) -> Iterator[tuple[bytes, int, bytes | None]]:
        for key in sorted(self._history):
            for height, value in self._history[key]:
                yield key, height, value

    def node_rows(self) -> Iterator[tuple[int, bytes, bytes]]:
        for (version, node_hash), body in sorted(self._nodes.nodes.items()):
            yield version, node_hash, body

    def root_rows(self) -> Iterator[tuple[int, bytes, int]]:
        for height, (version, root) in enumerate(self._roots):
            yield height, root, version
