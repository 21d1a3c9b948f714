"""Which tree nodes a version makes obsolete, so pruning needs no walk of the tree.

When version ``v`` replaces part of the tree of version ``v - 1``, every node of the old
tree that the new tree no longer reaches is *orphaned at v* (IAVL's orphan records): it
is still needed by the versions that reached it (``< v``), and by none from ``v`` on, as
nodes are never mutated and a dropped node cannot come back (a tree is only ever built
from its predecessor). ``prune(keep_from)`` may therefore delete exactly the nodes
orphaned at versions ``<= keep_from``: the same rows as deleting every node older than
``keep_from`` that the tree at ``keep_from`` does not reach (:func:`reachable_old`, the
full walk, kept as the reference and for stores written before orphans were recorded).

:func:`orphaned` works from what a tree update returns (the new root and the created
nodes), so the compiled and the reference :func:`phrchain.core.smt.update` give the
same orphans by construction. Cost: one visit per created node and per orphan, all
of them nodes the update has just read or written.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from typing import Final

from phrchain.core import smt

_REF: Final = struct.Struct(">Q32s")
_LEN: Final = struct.Struct(">I")

Orphan = tuple[int, int, bytes]
"""``(orphaned_at, version, hash)``: node ``(version, hash)`` is unused from ``orphaned_at``."""


def orphaned(reader: smt.NodeReader, old_root: smt.NodeRef, new_root: smt.NodeRef,
             created: dict[smt.NodeRef, bytes], version: int) -> list[Orphan]:
    """The nodes of the tree at ``old_root`` (version ``version - 1``) that the tree at
    ``new_root`` (made by the update that ``created`` these nodes at ``version``) no
    longer reaches, orphaned at ``version``; and any created node the new tree does not
    reach, orphaned at ``version + 1`` (as a full walk at ``version + 1`` would delete it)."""
    if new_root == old_root:
        return []
    empty = smt.EMPTY
    vb = version.to_bytes(8, "big")
    # The old nodes the new tree still uses hang off its created part (or are its root);
    # by hash alone, as within one tree a hash is one node.
    kept: set[bytes] = set()
    inner: set[bytes] = set()  # created nodes with a created parent
    if new_root[0] != version:
        kept.add(new_root[1])
    for body in created.values():
        if body[0] == 0:
            continue
        for child, cv in ((body[1:33], body[65:73]), (body[33:65], body[73:81])):
            if child != empty:
                (inner if cv == vb else kept).add(child)
    out: list[Orphan] = []
    if old_root[1] != empty and old_root[1] not in kept:
        hot = getattr(reader, "hot_nodes", None)
        cache: dict[smt.NodeRef, bytes] = {} if hot is None else hot()
        get_node = reader.get_node
        from_bytes = int.from_bytes
        stack = [old_root]
        while stack:
            ref = stack.pop()
            out.append((version, ref[0], ref[1]))
            body = cache.get(ref) or get_node(*ref)
            if body[0] == 0:
                continue
            left, right = body[1:33], body[33:65]
            if left != empty and left not in kept:
                stack.append((from_bytes(body[65:73], "big"), left))
            if right != empty and right not in kept:
                stack.append((from_bytes(body[73:81], "big"), right))
    # Every created node but the root has a created parent: all are in the new tree
    # (a parent chain ends at the only node without one). Else find the strays.
    if len(inner) != len(created) - (new_root[0] == version) or new_root[1] in inner:
        out += [(version + 1, v, h) for v, h in _unreached(created, new_root, version)]
    return out


def _unreached(created: dict[smt.NodeRef, bytes], root: smt.NodeRef, version: int
               ) -> list[smt.NodeRef]:
    seen: set[smt.NodeRef] = set()
    stack = [root] if root in created else []
    while stack:
        ref = stack.pop()
        seen.add(ref)
        children = smt.child_refs(created[ref])
        if children is not None:
            stack += [c for c in children if c[0] == version and c[1] != smt.EMPTY]
    return [ref for ref in created if ref not in seen]


def reachable_old(reader: smt.NodeReader, root: smt.NodeRef, below: int
                  ) -> list[smt.NodeRef]:
    """Every node of the tree at ``root`` made at a version below ``below``: a walk of
    the whole tree (the full-walk pruning and its reference)."""
    keep: list[smt.NodeRef] = []
    stack = [root] if root[1] != smt.EMPTY else []
    while stack:
        ref = stack.pop()
        if ref[0] < below:
            keep.append(ref)
        children = smt.child_refs(reader.get_node(*ref))
        if children is not None:
            stack += [c for c in children if c[1] != smt.EMPTY]
    return keep


def pack_orphans(orphans: list[Orphan]) -> list[tuple[int, bytes]]:
    """``(orphaned_at, packed refs)`` rows, refs sorted: u64 version + hash each."""
    by_cut: dict[int, list[tuple[int, bytes]]] = {}
    for at, version, node_hash in orphans:
        by_cut.setdefault(at, []).append((version, node_hash))
    pack = _REF.pack
    return [(at, b"".join([pack(v, h) for v, h in sorted(refs)]))
            for at, refs in sorted(by_cut.items())]


def unpack_refs(blobs: Iterable[bytes]) -> Iterator[tuple[int, bytes]]:
    for blob in blobs:
        yield from _REF.iter_unpack(blob)


def pack_keys(keys: list[bytes]) -> bytes:
    """Keys as u32 length + key each, sorted."""
    return b"".join([_LEN.pack(len(k)) + k for k in sorted(keys)])


def unpack_keys(blobs: Iterable[bytes]) -> set[bytes]:
    keys: set[bytes] = set()
    for blob in blobs:
        pos, end = 0, len(blob)
        while pos < end:
            (n,) = _LEN.unpack_from(blob, pos)
            keys.add(blob[pos + 4:pos + 4 + n])
            pos += 4 + n
    return keys
