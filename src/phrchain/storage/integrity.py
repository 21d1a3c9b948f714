"""Is a state database what its committed app hash says it is?

The SQLite state store keeps values (``kv``) and the sparse Merkle tree over them
(``nodes``) side by side, and a read returns the ``kv`` row without walking the tree. An
edited ``kv`` byte therefore leaves the stored root, and so the header's app hash,
unchanged. Two checks close that gap:

- :func:`check_latest_state` (node start-up): the root recomputed from every live value
  of the last version must equal the app hash the last block committed to. Cost: one
  pass over the live state and a tree build in memory.
- :func:`first_difference` (``phrchain verify``): after a replay from genesis, every row
  of the database — every version of every key, every tree node, every root — must equal
  what the replay wrote, byte for byte.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from typing import Final

from phrchain.core import smt
from phrchain.core.errors import PhrError
from phrchain.core.store import MemoryStateStore, smt_batch
from phrchain.storage.sqlite_state import SqliteStateStore

_BATCH: Final = 50_000


class StateIntegrityError(PhrError):
    """The state database does not match the app hash it was committed under."""


def recompute_root(store: SqliteStateStore, height: int | None = None) -> bytes:
    """The SMT root over the live values of ``height`` (default: the last version),
    rebuilt from the values alone, ignoring the stored tree."""
    h = store.version() if height is None else height
    nodes = smt.MemoryNodeStore()
    root = smt.EMPTY_REF
    version = 0
    pairs = store.iterate(b"", h)
    while batch := dict(itertools.islice(pairs, _BATCH)):
        version += 1
        root, created = smt.update(nodes, root, smt_batch(batch), version)
        nodes.put_many(created)
    return root[1]


def check_latest_state(store: SqliteStateStore, app_hash: bytes) -> None:
    """Raise :class:`StateIntegrityError` unless the stored root of the last version and
    the root recomputed from its values both equal ``app_hash`` (the last block's)."""
    if store.root() != app_hash:
        raise StateIntegrityError(
            f"the state database's root at height {store.version()} is "
            f"{store.root().hex()}, the last block committed to {app_hash.hex()}")
    recomputed = recompute_root(store)
    if recomputed != app_hash:
        raise StateIntegrityError(
            f"the values stored at height {store.version()} hash to {recomputed.hex()}, "
            f"not to the committed app hash {app_hash.hex()}: the state database was "
            "altered; move it away and let the node rebuild it from its blocks")


def first_difference(stored: SqliteStateStore, replica: MemoryStateStore,
                     lowest: int = 0) -> str | None:
    """Where the database first differs from a replay's store, from version ``lowest``
    (a pruned database's lowest retained one: pruning deletes only rows below it) up to
    the database's version (None if nowhere). Names a table, a height and a key's first
    bytes in hex: never a value."""
    # Both sides up to the same height: a running node may commit more blocks while the
    # database is read, and the replay may be ahead of the database or behind it.
    top = min(stored.version(), replica.version())
    tables: tuple[tuple[str, Iterable[tuple[object, ...]], Iterable[tuple[object, ...]]],
                  ...] = (
        ("kv", _upto(stored.kv_rows(), 1, lowest, top),
         _upto(replica.kv_rows(), 1, lowest, top)),
        ("nodes", _upto(stored.node_rows(), 0, lowest, top),
         _upto(replica.node_rows(), 0, lowest, top)),
        ("roots", _upto(stored.root_rows(), 0, lowest, top),
         _upto(replica.root_rows(), 0, lowest, top)),
    )
    for table, mine, theirs in tables:
        for a, b in itertools.zip_longest(mine, theirs):
            if a != b:
                return f"{table}: {_where(a if a is not None else b)}"
    return None


def _upto(rows: Iterator[tuple[object, ...]], height_at: int, lowest: int, top: int
          ) -> Iterator[tuple[object, ...]]:
    return (r for r in rows if lowest <= _int(r[height_at]) <= top)


def _int(value: object) -> int:
    assert isinstance(value, int)
    return value


def _where(row: tuple[object, ...] | None) -> str:
    if row is None:
        return "a row is missing"
    parts = [f"{v.hex()[:24]}…" if isinstance(v, bytes) else str(v) for v in row[:2]]
    return "row " + " ".join(parts) + " differs or is missing"
