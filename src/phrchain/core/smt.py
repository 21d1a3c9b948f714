"""Binary sparse Merkle tree over the whole application state (the app hash).

Shape (Diem/Aptos "JMT, binary" style): a 256-level binary trie addressed by
``path = H_key(key)``; bit 0 is the most significant bit of byte 0, 0 = left, 1 = right.
The shape is canonical, so the root depends only on the set of ``(path, value_hash)``
pairs and never on the order in which they were written:

* a subtree with no leaves is :data:`EMPTY` (32 zero bytes, a placeholder, not a hash);
* a subtree with exactly one leaf is that leaf, at the highest level where it is alone;
* a subtree with two or more leaves is an internal node, even if one child is EMPTY.

Hashes (tags in :mod:`phrchain.core.hashing`)::

    leaf     = H("phrchain/smt/leaf/v1" || 0x00 || path || value_hash)
    internal = H("phrchain/smt/node/v1" || 0x00 || left || right)

Storage (Jellyfish-Merkle-tree style): a node is stored under its *reference*
``(version, hash)``, where ``version`` is the version (block height) of the batch that
created it. Versions are storage addresses only; no hash, root or proof covers them.
Since every node a batch creates carries that batch's version, storing nodes ordered
by ``(version, hash)`` appends each batch at the end instead of scattering it by hash.
Nodes are never mutated, so every old root stays readable. Stored bodies:

* leaf, 65 bytes: ``0x00 || path || value_hash``;
* internal, 81 bytes: ``0x01 || left || right || left_version || right_version``
  (versions 8-byte big-endian; an EMPTY child has version 0), so a walk from a root
  reference computes each child's reference without any hash index.

Roots are passed around as references too (:data:`NodeRef`); the app hash is the
hash half. A root's version may be older than the current height if later batches
changed nothing.

Proofs list sibling hashes **from the root downward**: ``siblings[d]`` is the sibling of
the node at depth ``d + 1`` on the key's path. The search ends after ``len(siblings)``
steps at either EMPTY (``leaf is None``) or a leaf, which may be the key's own leaf
(membership) or another leaf sharing the first ``len(siblings)`` path bits
(non-membership). Siblings are not compressed: EMPTY siblings appear as 32 zero bytes.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_left
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Protocol

from phrchain.core.accel import native as _native
from phrchain.core.errors import ProofError
from phrchain.core.hashing import domain_prefix

EMPTY: Final = bytes(32)
MAX_DEPTH: Final = 256

_KEY_P: Final = domain_prefix("phrchain/smt/key/v1")
_VALUE_P: Final = domain_prefix("phrchain/smt/value/v1")
_LEAF_P: Final = domain_prefix("phrchain/smt/leaf/v1")
_NODE_P: Final = domain_prefix("phrchain/smt/node/v1")
_LEAF_TAG: Final = 0
_NODE_TAG: Final = 1
_sha256 = hashlib.sha256

# Per-depth bit tables so a split is one AND/OR plus a bisect on sorted integer paths,
# instead of per-key byte/bit arithmetic in Python.
_BIT: Final = tuple(1 << (255 - d) for d in range(MAX_DEPTH))
_HIGH: Final = tuple(((1 << 256) - 1) ^ ((1 << (256 - d)) - 1) for d in range(MAX_DEPTH))
_HEX: Final = frozenset("0123456789abcdef")


def key_path(key: bytes) -> bytes:
    """Tree path of a state key."""
    return _sha256(_KEY_P + key).digest()


def value_hash(value: bytes) -> bytes:
    """Hash committed for a state value."""
    return _sha256(_VALUE_P + value).digest()


def leaf_hash(path: bytes, vhash: bytes) -> bytes:
    return _sha256(_LEAF_P + path + vhash).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return _sha256(_NODE_P + left + right).digest()


NodeRef = tuple[int, bytes]
"""Storage address of a node: ``(version, hash)``, version = the batch that created it."""

EMPTY_REF: Final[NodeRef] = (0, EMPTY)
"""Reference to the empty tree (EMPTY is never stored; its version is always 0)."""

_ZERO_VERSION: Final = bytes(8)
_MAX_VERSION: Final = (1 << 64) - 1


class NodeReader(Protocol):
    def get_node(self, version: int, node_hash: bytes) -> bytes:
        """Stored body of node ``(version, node_hash)``; raises KeyError if missing."""
        ...


def _hot_nodes(reader: NodeReader) -> dict[NodeRef, bytes] | None:
    """A reader's optional ``hot_nodes()``: a dict of ``(version, hash) -> body`` the
    compiled walk looks in before calling ``get_node`` (a Python call per node). Any
    entry must be the body ``get_node`` would return; a miss just calls ``get_node``."""
    hot = getattr(reader, "hot_nodes", None)
    return None if hot is None else hot()


class MemoryNodeStore:
    """Dict-backed :class:`NodeReader` (tests, tools, and the in-memory state store)."""

    __slots__ = ("nodes",)

    def __init__(self, nodes: Mapping[NodeRef, bytes] | None = None) -> None:
        self.nodes: dict[NodeRef, bytes] = dict(nodes) if nodes else {}

    def get_node(self, version: int, node_hash: bytes) -> bytes:
        return self.nodes[(version, node_hash)]

    def put_many(self, nodes: Mapping[NodeRef, bytes]) -> None:
        self.nodes.update(nodes)

    def __len__(self) -> int:
        return len(self.nodes)


def child_refs(body: bytes) -> tuple[NodeRef, NodeRef] | None:
    """``(left, right)`` child references of a stored internal node, None for a leaf."""
    if body[0] == _LEAF_TAG:
        return None
    return ((int.from_bytes(body[65:73], "big"), body[1:33]),
            (int.from_bytes(body[73:81], "big"), body[33:65]))


def _bit(path: bytes, depth: int) -> int:
    return (path[depth >> 3] >> (7 - (depth & 7))) & 1


def update(
    reader: NodeReader, root: NodeRef, changes: Mapping[bytes, bytes | None], version: int
) -> tuple[NodeRef, dict[NodeRef, bytes]]:
    """Exactly :func:`update_reference`, compiled when :mod:`phrchain.core.accel` chose
    ``phrchain_native``. Unusual arguments (no changes, a bad version, a changes mapping
    that is not a dict) always take the reference, which answers or raises."""
    root_version, root_hash = root
    if (_native is None or not changes or type(changes) is not dict
            or not 0 <= version <= _MAX_VERSION
            or (root_hash != EMPTY and version <= root_version)):
        return update_reference(reader, root, changes, version)
    nodes = reader.nodes if type(reader) is MemoryNodeStore else None
    hot = None if nodes is not None else _hot_nodes(reader)
    try:
        new_root, new = _native.smt_update(reader, nodes, root_version, root_hash, changes,
                                           version, hot)
    except TypeError:  # a path or value hash that is not bytes: the reference decides
        return update_reference(reader, root, changes, version)
    return new_root, new


def update_reference(
    reader: NodeReader, root: NodeRef, changes: Mapping[bytes, bytes | None], version: int
) -> tuple[NodeRef, dict[NodeRef, bytes]]:
    """Apply ``path -> value_hash`` writes (``None`` deletes) to the tree at ``root``.

    Every node this batch creates gets ``version``, which must be newer than the version
    of every node under ``root`` (the caller's block height). Returns
    ``(new_root, new_nodes)``: the new root's reference (an older one if nothing changed)
    and every created node, ``(version, hash) -> body``, for the caller to persist.
    Existing nodes are only read. Each touched node is hashed once per batch, however
    many changes pass through it.
    """
    if not 0 <= version <= _MAX_VERSION:
        raise ValueError("SMT versions are unsigned 64-bit integers")
    root_version, root_hash = root
    if root_hash != EMPTY and version <= root_version:
        raise ValueError(f"SMT update version {version} is not newer than the root's "
                         f"({root_version})")
    if not changes:
        return root, {}
    items = []
    for p, v in changes.items():
        if len(p) != 32 or (v is not None and len(v) != 32):
            raise ValueError("SMT paths and value hashes are 32 bytes")
        items.append((int.from_bytes(p, "big"), p, v))
    items.sort()
    ints = [t[0] for t in items]
    paths = [t[1] for t in items]
    vhs = [t[2] for t in items]

    # Internally a node's version travels as the 8 big-endian bytes stored in its
    # parent's body, so building a body is plain concatenation; it becomes an int only
    # to read a node.
    if type(reader) is MemoryNodeStore:
        get_ref = reader.nodes.__getitem__  # skip a method call per read
    else:
        get_node = reader.get_node

        def get_ref(ref: NodeRef) -> bytes:
            return get_node(ref[0], ref[1])
    from_bytes = int.from_bytes
    new: dict[NodeRef, bytes] = {}
    sha = _sha256
    vb = version.to_bytes(8, "big")
    zv = _ZERO_VERSION
    leaf_p, node_p, bits, high = _LEAF_P, _NODE_P, _BIT, _HIGH

    def make_leaf(path: bytes, vh: bytes) -> bytes:
        body = path + vh
        h = sha(leaf_p + body).digest()
        new[(version, h)] = b"\x00" + body
        return h

    def make_node(left: bytes, lv: bytes, right: bytes, rv: bytes) -> bytes:
        body = left + right
        h = sha(node_p + body).digest()
        new[(version, h)] = b"\x01" + body + lv + rv
        return h

    def is_leaf(h: bytes, hv: bytes) -> bool:
        enc = new.get((version, h))
        return (enc if enc is not None else get_ref((from_bytes(hv, "big"), h)))[0] == _LEAF_TAG

    def build(d: int, bi: list[int], bp: list[bytes], bv: list[bytes],
              lo: int, hi: int, keep: int, keep_hash: bytes, keep_v: bytes
              ) -> tuple[bytes, bytes]:
        # A fresh subtree from live, sorted leaves only (no existing nodes below here).
        # `keep` is the int path of a pre-existing unchanged leaf, reused, not re-hashed.
        if hi - lo == 1:
            if bi[lo] == keep:
                return keep_hash, keep_v
            return make_leaf(bp[lo], bv[lo]), vb
        if lo == hi:
            return EMPTY, zv
        mid = bisect_left(bi, (bi[lo] & high[d]) | bits[d], lo, hi)
        lh, lv = build(d + 1, bi, bp, bv, lo, mid, keep, keep_hash, keep_v)
        rh, rv = build(d + 1, bi, bp, bv, mid, hi, keep, keep_hash, keep_v)
        return make_node(lh, lv, rh, rv), vb

    def fresh(d: int, lo: int, hi: int, leaf: bytes | None, old_hash: bytes,
              old_v: bytes) -> tuple[bytes, bytes]:
        # Rebuild a subtree that held at most one leaf (encoding `leaf`) from scratch.
        bi: list[int] = []
        bp: list[bytes] = []
        bv: list[bytes] = []
        for i in range(lo, hi):
            v = vhs[i]
            if v is not None:  # deleting under EMPTY or a different leaf is a no-op
                bi.append(ints[i])
                bp.append(paths[i])
                bv.append(v)
        keep = -1
        if leaf is not None:
            lpath = leaf[1:33]
            lint = from_bytes(lpath, "big")
            j = bisect_left(ints, lint, lo, hi)
            if j == hi or ints[j] != lint:  # the old leaf is not overwritten/deleted
                k = bisect_left(bi, lint)
                bi.insert(k, lint)
                bp.insert(k, lpath)
                bv.insert(k, leaf[33:65])
                keep = lint
            elif vhs[j] == leaf[33:65]:  # rewritten with the same value: reuse it
                keep = lint
        return build(d, bi, bp, bv, 0, len(bi), keep, old_hash, old_v)

    def single(h: bytes, hv: bytes, enc: bytes | None, d: int, i: int
               ) -> tuple[bytes, bytes]:
        # One change into a subtree holding at most one leaf (`enc`; None means EMPTY).
        # This is the common case deep in a big tree, so it avoids fresh()'s lists.
        v = vhs[i]
        if enc is None:
            return (EMPTY, zv) if v is None else (make_leaf(paths[i], v), vb)
        q = ints[i]
        other = from_bytes(enc[1:33], "big")
        if other == q:
            if v is None:
                return EMPTY, zv
            if enc[33:65] == v:  # same value: no-op
                return h, hv
            return make_leaf(paths[i], v), vb
        if v is None:
            return h, hv
        # Push the old leaf down: a node where the paths first differ, then a chain of
        # nodes with EMPTY siblings back up to depth d.
        cur = make_leaf(paths[i], v)
        split = 256 - (q ^ other).bit_length()
        cur = make_node(h, hv, cur, vb) if q & bits[split] else make_node(cur, vb, h, hv)
        for dd in range(split - 1, d - 1, -1):
            cur = make_node(EMPTY, zv, cur, vb) if q & bits[dd] \
                else make_node(cur, vb, EMPTY, zv)
        return cur, vb

    def walk_one(top: bytes, top_v: bytes, d: int, i: int) -> tuple[bytes, bytes]:
        # Exactly one change below `top`: most of a big batch's work happens on such
        # single-change paths, so descend and rebuild in loops instead of recursing.
        q = ints[i]
        h = top
        hv = top_v
        down: list[bytes] = []
        while True:
            if h == EMPTY:
                cur, cur_v = single(h, hv, None, d, i)
                break
            enc = get_ref((from_bytes(hv, "big"), h))
            if enc[0] == _LEAF_TAG:
                cur, cur_v = single(h, hv, enc, d, i)
                break
            down.append(enc)
            if q & bits[d]:
                h = enc[33:65]
                hv = enc[73:81]
            else:
                h = enc[1:33]
                hv = enc[65:73]
            d += 1
        if cur == h:
            return top, top_v
        for enc in reversed(down):
            d -= 1
            if q & bits[d]:
                sib = enc[1:33]
                sib_v = enc[65:73]
                if cur == EMPTY and (sib == EMPTY or is_leaf(sib, sib_v)):
                    cur, cur_v = sib, sib_v  # collapse: the lone sibling leaf moves up
                elif sib != EMPTY or not is_leaf(cur, cur_v):
                    body = sib + cur
                    cur = sha(node_p + body).digest()
                    new[(version, cur)] = b"\x01" + body + sib_v + cur_v
                    cur_v = vb
            else:
                sib = enc[33:65]
                sib_v = enc[73:81]
                if cur == EMPTY and (sib == EMPTY or is_leaf(sib, sib_v)):
                    cur, cur_v = sib, sib_v
                elif sib != EMPTY or not is_leaf(cur, cur_v):
                    body = cur + sib
                    cur = sha(node_p + body).digest()
                    new[(version, cur)] = b"\x01" + body + cur_v + sib_v
                    cur_v = vb
        return cur, cur_v

    def walk(h: bytes, hv: bytes, d: int, lo: int, hi: int) -> tuple[bytes, bytes]:
        # Changes [lo, hi) all lie under node `h` (version bytes `hv`) at depth `d`.
        if hi - lo == 1:
            return walk_one(h, hv, d, lo)
        if h == EMPTY:
            return fresh(d, lo, hi, None, h, hv)
        enc = get_ref((from_bytes(hv, "big"), h))
        if enc[0] == _LEAF_TAG:
            return fresh(d, lo, hi, enc, h, hv)
        left = enc[1:33]
        right = enc[33:65]
        mid = bisect_left(ints, (ints[lo] & high[d]) | bits[d], lo, hi)
        if lo < mid:
            nl, nl_v = walk(left, enc[65:73], d + 1, lo, mid)
        else:
            nl, nl_v = left, enc[65:73]
        if mid < hi:
            nr, nr_v = walk(right, enc[73:81], d + 1, mid, hi)
        else:
            nr, nr_v = right, enc[73:81]
        if nl == left and nr == right:
            return h, hv
        # Canonical collapse: a lone leaf next to EMPTY moves up; EMPTY+EMPTY is EMPTY.
        if nl == EMPTY:
            if nr == EMPTY or is_leaf(nr, nr_v):
                return nr, nr_v
        elif nr == EMPTY and is_leaf(nl, nl_v):
            return nl, nl_v
        body = nl + nr  # make_node inlined: this line runs once per touched node
        nh = sha(node_p + body).digest()
        new[(version, nh)] = b"\x01" + body + nl_v + nr_v
        return nh, vb

    new_hash, new_v = walk(root_hash, root_version.to_bytes(8, "big"), 0, 0, len(ints))
    return (from_bytes(new_v, "big"), new_hash), new


def get(reader: NodeReader, root: NodeRef, path: bytes) -> bytes | None:
    """Value hash stored at ``path`` under ``root``, or None."""
    version, h = root
    for d in range(MAX_DEPTH + 1):
        if h == EMPTY:
            return None
        enc = reader.get_node(version, h)
        if enc[0] == _LEAF_TAG:
            return enc[33:65] if enc[1:33] == path else None
        if _bit(path, d):
            h = enc[33:65]
            version = int.from_bytes(enc[73:81], "big")
        else:
            h = enc[1:33]
            version = int.from_bytes(enc[65:73], "big")
    raise ValueError("SMT deeper than 256 levels: corrupt node store")


@dataclass(frozen=True, slots=True)
class SmtProof:
    """Where the search for a path ended, plus the sibling hashes on the way.

    ``siblings[0]`` is the root's child not taken, ``siblings[-1]`` the sibling of the
    node the search ended at. ``leaf`` is ``(path, value_hash)`` of the leaf the search
    ended at, or None if it ended at EMPTY.
    """

    siblings: tuple[bytes, ...]
    leaf: tuple[bytes, bytes] | None

    def to_json(self) -> dict[str, object]:
        return {
            "siblings": [s.hex() for s in self.siblings],
            "leaf": None if self.leaf is None
            else {"path": self.leaf[0].hex(), "value_hash": self.leaf[1].hex()},
        }

    @classmethod
    def from_json(cls, d: object) -> SmtProof:
        """Strict inverse of :meth:`to_json`: exact keys, lowercase 64-digit hex."""
        if not isinstance(d, dict) or set(d) != {"siblings", "leaf"}:
            raise ProofError("SMT proof must be an object with 'siblings' and 'leaf'")
        sibs = d["siblings"]
        if not isinstance(sibs, list) or len(sibs) > MAX_DEPTH:
            raise ProofError("SMT proof 'siblings' must be a list of at most 256 hashes")
        leaf = d["leaf"]
        parsed_leaf: tuple[bytes, bytes] | None = None
        if leaf is not None:
            if not isinstance(leaf, dict) or set(leaf) != {"path", "value_hash"}:
                raise ProofError("SMT proof 'leaf' must be null or {path, value_hash}")
            parsed_leaf = (_hash_from_hex(leaf["path"]), _hash_from_hex(leaf["value_hash"]))
        return cls(tuple(_hash_from_hex(s) for s in sibs), parsed_leaf)


def _hash_from_hex(s: object) -> bytes:
    # bytes.fromhex alone would accept uppercase and whitespace: two spellings, one proof.
    if not isinstance(s, str) or len(s) != 64 or not _HEX.issuperset(s):
        raise ProofError("SMT proof hashes are 64 lowercase hex digits")
    return bytes.fromhex(s)


def prove(reader: NodeReader, root: NodeRef, path: bytes) -> SmtProof:
    """Exactly :func:`prove_reference`, compiled when :mod:`phrchain.core.accel` chose
    ``phrchain_native``."""
    if _native is None or len(path) != 32 or len(root[1]) != 32:
        return prove_reference(reader, root, path)
    nodes = reader.nodes if type(reader) is MemoryNodeStore else None
    hot = None if nodes is not None else _hot_nodes(reader)
    try:
        sibs, leaf = _native.smt_prove(reader, nodes, root[0], root[1], path, hot)
    except TypeError:  # a path that is not bytes: the reference decides
        return prove_reference(reader, root, path)
    return SmtProof(tuple(sibs), leaf)


def prove_reference(reader: NodeReader, root: NodeRef, path: bytes) -> SmtProof:
    """Membership or non-membership proof for ``path`` under ``root``."""
    sibs: list[bytes] = []
    version, h = root
    for d in range(MAX_DEPTH + 1):
        if h == EMPTY:
            return SmtProof(tuple(sibs), None)
        enc = reader.get_node(version, h)
        if enc[0] == _LEAF_TAG:
            return SmtProof(tuple(sibs), (enc[1:33], enc[33:65]))
        if _bit(path, d):
            sibs.append(enc[1:33])
            h = enc[33:65]
            version = int.from_bytes(enc[73:81], "big")
        else:
            sibs.append(enc[33:65])
            h = enc[1:33]
            version = int.from_bytes(enc[65:73], "big")
    raise ValueError("SMT deeper than 256 levels: corrupt node store")


def verify_path(root: bytes, path: bytes, vhash: bytes | None, proof: SmtProof) -> None:
    """Check ``proof`` shows ``path -> vhash`` (or absence of ``path`` if ``vhash`` is None).

    Besides the hash chain, rejects shapes an honest canonical tree never produces
    (a leaf or EMPTY next to an EMPTY sibling), so every fact has exactly one proof.
    """
    sibs = proof.siblings
    leaf = proof.leaf
    if not isinstance(sibs, tuple) or len(sibs) > MAX_DEPTH:
        raise ProofError("SMT proof has too many siblings")
    for s in sibs:
        if not isinstance(s, bytes) or len(s) != 32:
            raise ProofError("SMT proof sibling is not a 32-byte hash")
    if len(path) != 32 or (vhash is not None and len(vhash) != 32):
        raise ProofError("SMT path and value hash must be 32 bytes")
    n = len(sibs)
    if leaf is None:
        if vhash is not None:
            raise ProofError("SMT proof ends at an empty subtree: key is absent")
        h = EMPTY
    else:
        if (not isinstance(leaf, tuple) or len(leaf) != 2
                or not all(isinstance(x, bytes) and len(x) == 32 for x in leaf)):
            raise ProofError("SMT proof leaf is not (32-byte path, 32-byte value hash)")
        lpath, lvh = leaf
        if vhash is not None:
            if lpath != path:
                raise ProofError("SMT proof leaf is for another key")
            if lvh != vhash:
                raise ProofError("SMT proof leaf holds another value")
        else:
            if lpath == path:
                raise ProofError("SMT proof shows the key is present")
            # The leaf must sit where `path` would be: same first n bits.
            shift = 256 - n
            if int.from_bytes(lpath, "big") >> shift != int.from_bytes(path, "big") >> shift:
                raise ProofError("SMT proof leaf is not on the key's path")
        h = leaf_hash(lpath, lvh)
    if n and sibs[-1] == EMPTY:
        # Honest trees: a lone leaf next to EMPTY moves up, and EMPTY+EMPTY is EMPTY.
        raise ProofError("SMT proof is not in canonical shape")
    for d in range(n - 1, -1, -1):
        h = node_hash(sibs[d], h) if _bit(path, d) else node_hash(h, sibs[d])
    if h != root:
        raise ProofError("SMT proof does not match the root")


def verify_membership(root: bytes, key: bytes, value: bytes, proof: SmtProof) -> None:
    """Raise ProofError unless ``proof`` shows ``key -> value`` under ``root``."""
    verify_path(root, key_path(key), value_hash(value), proof)


def verify_non_membership(root: bytes, key: bytes, proof: SmtProof) -> None:
    """Raise ProofError unless ``proof`` shows ``key`` is absent under ``root``."""
    verify_path(root, key_path(key), None, proof)
