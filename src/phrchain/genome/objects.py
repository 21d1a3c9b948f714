"""A genomic object sealed as crypt4gh, committed to with an RFC 9162 root over its
encrypted segments, and read by byte range with inclusion proofs (``docs/genomics.md``).

- segments: crypt4gh data segments (``crypt4gh.py``), 64 KiB of plaintext each;
- ``root``: RFC 9162 MTH over ``leaf_hash(segment_i)`` — the chain's record ``hash``;
- ``size``: total encrypted segment bytes (the chain has its bucket);
- ``sha256``: of the plaintext (the DRS checksum) — sealed, never on chain;
- ``commitment``: ``tagged_hash("phrchain/genome/commitment/v1", salt ‖ sha256)``, the
  record's ``commitment`` on chain and the DRS object id. It commits to the plaintext
  as the records' ``salt ‖ plaintext`` one does (SHA-256 is collision resistant), is
  salted so it links nothing, and costs no second pass over a genome.

A crypt4gh segment's AEAD does not bind its position (the spec has no associated data),
so a reader checks every segment's inclusion proof at its index before decrypting: a
swapped, dropped or altered segment fails the proof (``c4gh/12 bad_proof``).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import BinaryIO, Final

from phrchain.core import rfc9162
from phrchain.core.errors import ProofError
from phrchain.core.hashing import tagged_hash
from phrchain.genome import crypt4gh as c4
from phrchain.genome import errors
from phrchain.vault.crypto import SALT_SIZE

MAX_OBJECT: Final = 1 << 40
COMMITMENT_TAG: Final = "phrchain/genome/commitment/v1"


@dataclass(frozen=True, slots=True)
class GenomeMeta:
    """What the vault keeps of a sealed object besides its segments (no key, no plaintext
    digest): enough to serve ranges and check the chain's registration."""

    record_id: bytes
    patient: str
    root: bytes
    size: int  # encrypted segment bytes
    segments: int
    plain_size: int
    commitment: bytes

    def check(self) -> None:
        if self.segments != c4.segment_count(self.plain_size) \
                or self.size != c4.cipher_size(self.plain_size) \
                or not 0 < self.plain_size <= MAX_OBJECT:
            raise errors.BAD_RANGE("segment count and sizes do not fit")


@dataclass(frozen=True, slots=True)
class Sealed:
    meta: GenomeMeta
    data_key: bytes
    salt: bytes
    sha256: str
    leaf_hashes: tuple[bytes, ...]


BATCH_SEGMENTS: Final = 16  # segments per read and per hand-off: 1 MiB of plaintext
PIPELINE = False  # True: the plaintext hashed on a second thread (slower here: see seal_stream)
BatchSink = Callable[[int, memoryview, Sequence[bytes]], None]
"""``(index of the first segment, the segments back to back, their leaf hashes)``."""


def seal_stream(record_id: bytes, patient: str, source: BinaryIO,
                sink: Callable[[int, bytes, bytes], None] | None = None, *,
                data_key: bytes | None = None, salt: bytes | None = None,
                on_plain: Callable[[bytes], None] | None = None,
                batch_sink: BatchSink | None = None,
                reserve: Callable[[int], memoryview | None] | None = None) -> Sealed:
    """Encrypt ``source`` segment by segment, handing each ``(index, segment, leaf
    hash)`` to ``sink`` (or each batch of :data:`BATCH_SEGMENTS` segments, back to back,
    to ``batch_sink``: valid during the call only), in order, on this thread;
    ``reserve(n)`` may give the memory to encrypt the next batch of ``n`` bytes into
    (the store's direct writer: no copy). ``on_plain`` sees the plaintext, in order, in
    blocks of any size (an index builder, a refget digest). One pass over the plaintext:
    its SHA-256 is both the DRS checksum and what the commitment covers.

    With ``PIPELINE``, a second thread hashes the plaintext and feeds ``on_plain`` (one
    1 MiB batch per hand-off, at most two in flight; ``hashlib`` releases the GIL, pyca's
    ChaCha20-Poly1305 does not). Off by default: on the shared 2-core machine it was
    slower than one thread (docs/genomics.md § Performance; ``bench/genome.py`` measures
    both in each run). The bytes are the same either way: each segment is ``nonce ‖
    ChaCha20-Poly1305(data key, nonce, plaintext)``, its nonce drawn in segment order."""
    if batch_sink is not None and sink is None:
        deliver = batch_sink
    elif sink is not None and batch_sink is None:
        deliver = _per_segment(sink)
    else:
        raise ValueError("give one of sink and batch_sink")
    data_key = os.urandom(c4.KEY_SIZE) if data_key is None else data_key
    salt = os.urandom(SALT_SIZE) if salt is None else salt
    plain_digest = hashlib.sha256()
    sizes = [0, 0]  # plaintext, segments

    def plain(chunk: bytes) -> None:
        plain_digest.update(chunk)
        if on_plain is not None:
            on_plain(chunk)

    leaves = _encrypt_all(source, c4.SegmentCipher(data_key), plain, deliver, reserve,
                          sizes)
    if not leaves:
        raise errors.BAD_RANGE("an empty object has nothing to seal")
    meta = GenomeMeta(record_id, patient, rfc9162.root_from_leaf_hashes(leaves), sizes[1],
                      len(leaves), sizes[0], commitment(salt, plain_digest.digest()))
    return Sealed(meta, data_key, salt, plain_digest.hexdigest(), tuple(leaves))


def _per_segment(sink: Callable[[int, bytes, bytes], None]) -> BatchSink:
    def each(first: int, data: memoryview, leaves: Sequence[bytes]) -> None:
        for k, leaf in enumerate(leaves):
            at = k * c4.CIPHER_SEGMENT_SIZE
            sink(first + k, bytes(data[at:at + c4.CIPHER_SEGMENT_SIZE]), leaf)
    return each


def _encrypt_all(source: BinaryIO, cipher: c4.SegmentCipher,
                 plain: Callable[[bytes], None], deliver: BatchSink,
                 reserve: Callable[[int], memoryview | None] | None,
                 sizes: list[int]) -> list[bytes]:
    """Read, encrypt and hash ``source`` batch by batch, ``deliver`` each batch of
    segments; ``plain`` sees the plaintext, on a second thread when :data:`PIPELINE`
    (in order: one worker), else here."""
    leaves: list[bytes] = []
    with contextlib.ExitStack() as stack:
        pool = stack.enter_context(ThreadPoolExecutor(1, thread_name_prefix="genome-seal")) \
            if PIPELINE else None
        pending: deque[Future[None]] = deque()
        try:
            while chunk := _read_full(source, BATCH_SEGMENTS * c4.SEGMENT_SIZE):
                target = None if reserve is None else reserve(c4.cipher_size(len(chunk)))
                data, batch = cipher.encrypt_batch(chunk, target)
                first = len(leaves)
                leaves += batch
                sizes[0] += len(chunk)
                sizes[1] += len(data)
                if pool is None:
                    plain(chunk)
                else:
                    pending.append(pool.submit(plain, chunk))
                    if len(pending) > 2:
                        pending.popleft().result()
                deliver(first, data, batch)
            while pending:
                pending.popleft().result()
        except BaseException:
            for future in pending:  # what is not yet consumed, never will be
                future.cancel()
            raise
    return leaves


def _read_full(source: BinaryIO, n: int) -> bytes:
    """``n`` bytes, fewer only at the end (a pipe or socket may return short reads: a
    short segment in the middle would not be a crypt4gh file)."""
    block = source.read(n)
    if not block or len(block) == n:
        return block
    parts = [block]
    have = len(block)
    while have < n and (more := source.read(n - have)):
        parts.append(more)
        have += len(more)
    return b"".join(parts)


def commitment(salt: bytes, plaintext_sha256: bytes) -> bytes:
    if len(salt) != SALT_SIZE or len(plaintext_sha256) != 32:
        raise errors.BAD_DESCRIPTOR("a commitment needs a 32-byte salt and digest")
    return tagged_hash(COMMITMENT_TAG, salt + plaintext_sha256)


def covering(plain_size: int, start: int, end: int) -> range:
    """Segment indices covering plaintext bytes ``[start, end)``."""
    if not 0 <= start < end <= plain_size:
        raise errors.BAD_RANGE(f"[{start}, {end}) of {plain_size} bytes")
    return range(start // c4.SEGMENT_SIZE, (end - 1) // c4.SEGMENT_SIZE + 1)


@dataclass(frozen=True, slots=True)
class SegmentPart:
    index: int
    data: bytes
    proof: tuple[bytes, ...]


def verify_parts(parts: Sequence[SegmentPart], *, root: bytes, segments: int,
                 expected: range) -> None:
    """Each part is the segment at its index of the tree with ``root`` (the chain's
    hash), and the parts are exactly ``expected``, in order."""
    if [p.index for p in parts] != list(expected):
        raise errors.BAD_RANGE(f"got segments {[p.index for p in parts][:8]}, want "
                               f"{expected.start}..{expected.stop - 1}")
    for part in parts:
        try:
            rfc9162.verify_inclusion(rfc9162.leaf_hash(part.data), part.index, segments,
                                     part.proof, root)
        except ProofError as exc:
            raise errors.BAD_PROOF(f"segment {part.index}: {exc}") from None


def read_range(data_keys: Sequence[bytes], parts: Sequence[SegmentPart], *, root: bytes,
               segments: int, plain_size: int, start: int, end: int) -> bytes:
    """Plaintext bytes ``[start, end)`` from the covering segments, each proven against
    ``root`` before it is decrypted."""
    expected = covering(plain_size, start, end)
    verify_parts(parts, root=root, segments=segments, expected=expected)
    plain = b"".join(c4.decrypt_segment(data_keys, p.data, p.index) for p in parts)
    offset = start - expected.start * c4.SEGMENT_SIZE
    out = plain[offset:offset + end - start]
    if len(out) != end - start:
        raise errors.BAD_RANGE("the segments are shorter than the range")
    return out


def to_crypt4gh(header: bytes, segments: Sequence[bytes]) -> bytes:
    """A standard crypt4gh file: a header (for one or more readers) and the segments."""
    return header + b"".join(segments)
