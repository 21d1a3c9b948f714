"""RFC 9162 (Certificate Transparency v2) §2.1: Merkle Tree hashing, proofs and verifiers.

Standard library only. Names follow the RFC: ``HASH`` is SHA-256, ``MTH`` the Merkle Tree
Hash (§2.1.1), ``PATH`` the inclusion proof (§2.1.3.1), ``PROOF``/``SUBPROOF`` the
consistency proof (§2.1.4.1). The trees are the same as RFC 6962's.

Generators take leaf hashes (``leaf_hash(d)``), not leaf data, and raise ``ValueError`` on
bad arguments. Verifiers follow the RFC algorithms step by step and raise
:class:`~phrchain.core.errors.ProofError`; they never return ``False``.

Where the RFC is silent, this module decides:

* ``PROOF(m, D[n])`` is defined only for ``0 < m < n`` (§2.1.4.1). Here the proof for
  ``m == n`` and for ``m == 0`` is empty: a tree is consistent with itself, and the empty
  tree is a prefix of every tree. :func:`verify_consistency` accepts an empty proof for
  ``size1 == size2`` only when ``root1 == root2``, and for ``size1 == 0`` only when
  ``root1`` is :data:`EMPTY_ROOT` (``MTH({}) = HASH()``, the one root an empty tree can
  have; likewise ``root2`` when ``size2 == 0``). Any other proof for these sizes fails.
* ``PATH(m, D[n])`` needs ``0 <= m < n``: an empty tree has no inclusion proofs.
* Every hash handed to a verifier must be exactly 32 bytes.

Cost: the proof generators recompute each sibling subtree from leaf hashes, so one proof
costs O(n) hashing and O(n) ``get_leaf`` calls (n = tree size), with O(log n) memory.
That is fine for audit logs of up to a few hundred thousand entries; a log that needs
faster proofs should store interior subtree hashes and build on :func:`subtree_hash`.

A caveat inherent to the §2.1.3.2 / §2.1.4.2 algorithms: a verifier only sees the *shape*
of a proof (its length and the left/right order of its hashes), so a proof that verifies
for one ``(index, size)`` also verifies for any other pair of the same shape against the
same root, e.g. index 0 of size 3 and of size 4. Callers must take sizes from signed tree
heads, not from the party presenting the proof.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from typing import Final

from phrchain.core.errors import ProofError

HASH_SIZE: Final = 32  # §2.1: HASH is the log's hash algorithm; phrchain uses SHA-256
LEAF_PREFIX: Final = b"\x00"  # §2.1.1: MTH({d(0)}) = HASH(0x00 || d(0))
NODE_PREFIX: Final = b"\x01"  # §2.1.1: MTH(D_n) = HASH(0x01 || MTH(D[0:k]) || MTH(D[k:n]))
EMPTY_ROOT: Final = hashlib.sha256(b"").digest()  # §2.1.1: MTH({}) = HASH()

GetLeaf = Callable[[int], bytes]


def leaf_hash(data: bytes) -> bytes:
    """``HASH(0x00 || data)``: the hash of a leaf (§2.1.1)."""
    return hashlib.sha256(LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """``HASH(0x01 || left || right)``: the hash of an interior node (§2.1.1)."""
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def _split(n: int) -> int:
    """``k``, the largest power of two smaller than ``n`` (``n > 1``), §2.1.1."""
    return 1 << ((n - 1).bit_length() - 1)


class CompactRange:
    """The frontier of an append-only log of ``size`` leaves.

    It holds the roots of the perfect subtrees that ``D[0:size]`` splits into, left to
    right and largest first, one per set bit of ``size``: O(log n) hashes, O(log n) work
    per :meth:`append`. :meth:`to_hashes` and :meth:`from_hashes` store and restore it.
    """

    __slots__ = ("_hashes", "_size")

    def __init__(self) -> None:
        self._size = 0
        self._hashes: list[bytes] = []

    @property
    def size(self) -> int:
        """Number of leaves appended so far."""
        return self._size

    def append(self, leaf_hash: bytes) -> None:
        """Add one leaf hash at index ``size``."""
        _require_hash(leaf_hash, "leaf hash")
        h, n = leaf_hash, self._size
        while n & 1:  # each trailing 1 bit of size: a perfect subtree to merge with
            h = node_hash(self._hashes.pop(), h)
            n >>= 1
        self._hashes.append(h)
        self._size += 1

    def root(self) -> bytes:
        """``MTH(D[0:size])``: the subtree roots folded right to left."""
        if not self._hashes:
            return EMPTY_ROOT
        r = self._hashes[-1]
        for h in reversed(self._hashes[:-1]):
            r = node_hash(h, r)
        return r

    def to_hashes(self) -> list[bytes]:
        """The subtree roots, largest first (store these together with ``size``)."""
        return list(self._hashes)

    @classmethod
    def from_hashes(cls, size: int, hashes: Iterable[bytes]) -> CompactRange:
        """Restore a frontier saved with :meth:`to_hashes`."""
        hs = list(hashes)
        if size < 0 or len(hs) != size.bit_count():
            raise ValueError(
                f"a range of size {size} has {max(size, 0).bit_count()} hashes, got {len(hs)}"
            )
        for h in hs:
            _require_hash(h, "subtree hash")
        cr = cls()
        cr._size, cr._hashes = size, hs
        return cr

    def __repr__(self) -> str:
        return f"CompactRange(size={self._size}, root={self.root().hex()})"


def subtree_hash(get_leaf: GetLeaf, start: int, end: int) -> bytes:
    """``MTH(D[start:end])`` from lazily fetched leaf hashes; O(end - start) hashing."""
    if not 0 <= start <= end:
        raise ValueError(f"bad leaf range [{start}, {end})")
    cr = CompactRange()
    for i in range(start, end):
        cr.append(get_leaf(i))
    return cr.root()


def root_from_leaf_hashes(leaf_hashes: Sequence[bytes]) -> bytes:
    """``MTH(D[n])`` (§2.1.1), computed iteratively with n - 1 node hashes."""
    cr = CompactRange()
    for h in leaf_hashes:
        cr.append(h)
    return cr.root()


def inclusion_proof_from(get_leaf: GetLeaf, index: int, size: int) -> list[bytes]:
    """``PATH(index, D[size])`` (§2.1.3.1), fetching leaf hashes with ``get_leaf``.

    Walks down from the root; each sibling subtree is hashed from its leaves, so the whole
    proof costs O(size) hashing. The hash nearest the leaf comes first.
    """
    if not 0 <= index < size:
        raise ValueError(f"no leaf {index} in a tree of size {size}")
    path: list[bytes] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = _split(hi - lo)
        if index < lo + k:  # PATH(m, D[n]) = PATH(m, D[0:k]) : MTH(D[k:n])
            path.append(subtree_hash(get_leaf, lo + k, hi))
            hi = lo + k
        else:  # PATH(m, D[n]) = PATH(m - k, D[k:n]) : MTH(D[0:k])
            path.append(subtree_hash(get_leaf, lo, lo + k))
            lo += k
    path.reverse()
    return path


def consistency_proof_from(get_leaf: GetLeaf, size1: int, size2: int) -> list[bytes]:
    """``PROOF(size1, D[size2])`` (§2.1.4.1), fetching leaf hashes with ``get_leaf``.

    Empty when ``size1 == 0`` or ``size1 == size2`` (see the module notes). O(size2)
    hashing, like :func:`inclusion_proof_from`.
    """
    if not 0 <= size1 <= size2:
        raise ValueError(f"no consistency proof from size {size1} to size {size2}")
    if size1 in (0, size2):
        return []
    proof: list[bytes] = []
    lo, hi, b = 0, size2, True  # SUBPROOF(m, D[lo:hi], b) with m = size1 - lo
    while size1 != hi:
        k = _split(hi - lo)
        if size1 - lo <= k:  # SUBPROOF(m, D[0:k], b) : MTH(D[k:n])
            proof.append(subtree_hash(get_leaf, lo + k, hi))
            hi = lo + k
        else:  # SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k])
            proof.append(subtree_hash(get_leaf, lo, lo + k))
            lo, b = lo + k, False
    if not b:  # SUBPROOF(m, D[m], false) = {MTH(D[m])}
        proof.append(subtree_hash(get_leaf, lo, hi))
    proof.reverse()
    return proof


def _getter(leaf_hashes: Sequence[bytes], size: int) -> GetLeaf:
    if size > len(leaf_hashes):
        raise ValueError(f"tree size {size} exceeds the {len(leaf_hashes)} leaves given")
    return leaf_hashes.__getitem__


def inclusion_proof(leaf_hashes: Sequence[bytes], index: int, size: int) -> list[bytes]:
    """``PATH(index, D[size])`` over the first ``size`` of ``leaf_hashes``."""
    return inclusion_proof_from(_getter(leaf_hashes, size), index, size)


def consistency_proof(leaf_hashes: Sequence[bytes], size1: int, size2: int) -> list[bytes]:
    """``PROOF(size1, D[size2])`` over the first ``size2`` of ``leaf_hashes``."""
    return consistency_proof_from(_getter(leaf_hashes, size2), size1, size2)


def _require_hash(h: bytes, what: str, error: type[Exception] = ValueError) -> None:
    if len(h) != HASH_SIZE:
        raise error(f"{what} is {len(h)} bytes, not {HASH_SIZE}")


def verify_inclusion(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that ``leaf_hash`` is leaf ``index`` of the tree of ``size`` with ``root``.

    The §2.1.3.2 algorithm. Raises :class:`ProofError` on any failure.
    """
    _require_hash(leaf_hash, "leaf hash", ProofError)
    _require_hash(root, "root hash", ProofError)
    for p in proof:
        _require_hash(p, "inclusion proof hash", ProofError)
    if not 0 <= index < size:  # step 1
        raise ProofError(f"no leaf {index} in a tree of size {size}")
    fn, sn = index, size - 1  # step 2
    r = leaf_hash  # step 3
    for p in proof:  # step 4
        if sn == 0:  # 4a
            raise ProofError("inclusion proof is too long")
        if fn & 1 or fn == sn:  # 4b
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:  # only when fn == sn with LSB(fn) unset
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1  # 4c
    if sn != 0:  # step 5
        raise ProofError("inclusion proof is too short")
    if r != root:
        raise ProofError("inclusion proof does not lead to the root")


def verify_consistency(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes
) -> None:
    """Check that the tree of ``size2`` with ``root2`` extends the one of ``size1``/``root1``.

    The §2.1.4.2 algorithm, plus the ``size1 == 0`` and ``size1 == size2`` cases from the
    module notes. Raises :class:`ProofError` on any failure.
    """
    _require_hash(root1, "first root hash", ProofError)
    _require_hash(root2, "second root hash", ProofError)
    for p in proof:
        _require_hash(p, "consistency proof hash", ProofError)
    if not 0 <= size1 <= size2:
        raise ProofError(f"no consistency from size {size1} to size {size2}")
    if size1 == 0:
        if proof:
            raise ProofError("consistency proof from the empty tree must be empty")
        if root1 != EMPTY_ROOT or (size2 == 0 and root2 != EMPTY_ROOT):
            raise ProofError("the root of an empty tree is HASH()")
        return
    if size1 == size2:
        if proof:
            raise ProofError("consistency proof between equal sizes must be empty")
        if root1 != root2:
            raise ProofError("trees of equal size have different roots")
        return
    if not proof:  # step 1
        raise ProofError("consistency proof is empty")
    path = list(proof)
    if size1 & (size1 - 1) == 0:  # step 2: first is an exact power of 2
        path.insert(0, root1)
    fn, sn = size1 - 1, size2 - 1  # step 3
    while fn & 1:  # step 4
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]  # step 5
    for c in path[1:]:  # step 6
        if sn == 0:  # 6a
            raise ProofError("consistency proof is too long")
        if fn & 1 or fn == sn:  # 6b
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:  # only when fn == sn with LSB(fn) unset
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1  # 6c
    if sn != 0:  # step 7
        raise ProofError("consistency proof is too short")
    if fr != root1:
        raise ProofError("consistency proof does not lead to the first root")
    if sr != root2:
        raise ProofError("consistency proof does not lead to the second root")
