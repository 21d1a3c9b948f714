"""Record encryption, as ``docs/records.md`` § "Record encryption" fixes it byte for byte.

- framed plaintext = ``salt || plaintext`` (32-byte fresh salt, step 1);
- ``commitment = tagged_hash("phrchain/record/commitment/v1", salt || plaintext)`` (2);
- the framed plaintext is cut into ``CHUNK_SIZE`` chunks (last shorter, never zero
  chunks); chunk ``i`` of ``n`` is AES-256-GCM under a fresh 32-byte data key, nonce =
  ``i`` as 12 bytes big-endian, AAD = :func:`chunk_aad` (3);
- ``hash`` = RFC 9162 root over ``leaf_hash(ciphertext chunk)``, ``size`` = total
  ciphertext bytes, ``chunks`` = n (4). The leaf hash is ``H(0x00 || chunk)`` with ``H``
  the record's chunk hash: SHA-256 (the default, and every record made before the
  choice existed) or BLAKE3 (``hash_alg="blake3"``, ~3.5x faster here); interior nodes
  stay SHA-256. The algorithm is recorded with the record (blob store, upload meta,
  sealed descriptor), never guessed;
- the data key is wrapped per reader with HPKE base mode X25519 / HKDF-SHA256 /
  ChaCha20-Poly1305, ``info`` = :func:`wrap_info` (5).

Plaintext offsets versus chunk offsets: the salt occupies framed bytes ``[0, 32)``, so
plaintext byte ``p`` is framed byte ``32 + p`` and lives in chunk ``(32 + p) //
chunk_size``. :class:`Layout` does this arithmetic in one place.

All primitives come from ``cryptography`` (OpenSSL); nothing is hand-rolled. Randomness
(data keys, salts) is drawn here only when the caller passes none, so tests fix them.
Every failure raises :class:`~phrchain.vault.errors.VaultError`.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import BinaryIO, Final, Protocol

import blake3
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from phrchain.core import encoding, keys, rfc9162
from phrchain.core.errors import CryptoError, EncodingError, ErrorCode, ProofError
from phrchain.core.hashing import domain_prefix, tagged_hash
from phrchain.vault import errors
from phrchain.vault.errors import VaultError

CHUNK_SIZE: Final = 1 << 20  # records.md step 3
SALT_SIZE: Final = 32  # step 1
KEY_SIZE: Final = 32  # AES-256 data key, step 3
NONCE_SIZE: Final = 12  # GCM nonce: the chunk index, big-endian, step 3
TAG_SIZE: Final = 16  # GCM tag appended to every chunk
RECORD_ID_SIZE: Final = 16  # records.md "Identifiers and encodings"
WRAPPED_KEY_SIZE: Final = 80  # HPKE enc (32) + ChaCha20-Poly1305(32-byte key) (32 + 16)
MAX_PATIENT_LEN: Final = 256
MAX_CHUNK_SIZE: Final = 1 << 26  # a sanity bound on the chunk_size parameter

COMMITMENT_TAG: Final = "phrchain/record/commitment/v1"
AAD_TAG: Final = "phrchain/record/aad/v1"
WRAP_TAG: Final = "phrchain/record/wrap/v1"
HPKE_SUITE: Final = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256,
                               hpke.AEAD.CHACHA20_POLY1305)
SHA256: Final = "sha256"  # the chunk hash of every record made before BLAKE3 was offered
BLAKE3: Final = "blake3"
HASH_ALGS: Final = (SHA256, BLAKE3)
_SHA256_LEAF: Final = hashlib.sha256(rfc9162.LEAF_PREFIX)


def _sha256_leaf(chunk: bytes) -> bytes:
    hasher = _SHA256_LEAF.copy()  # no 0x00 || chunk copy of a 1 MiB chunk
    hasher.update(chunk)
    return hasher.digest()


def _blake3_leaf(chunk: bytes) -> bytes:
    hasher = blake3.blake3(rfc9162.LEAF_PREFIX)
    hasher.update(chunk)
    return hasher.digest()


_LEAF_HASHERS: Final[dict[str, Callable[[bytes], bytes]]] = {SHA256: _sha256_leaf,
                                                             BLAKE3: _blake3_leaf}


def leaf_hasher(hash_alg: str) -> Callable[[bytes], bytes]:
    """The leaf hash ``H(0x00 || chunk)`` of chunk hash ``hash_alg`` (``HASH_ALGS``)."""
    found = _LEAF_HASHERS.get(hash_alg) if isinstance(hash_alg, str) else None
    if found is None:
        raise _fail(errors.INVALID_ARGUMENT, f"chunk hash must be one of {list(HASH_ALGS)}")
    return found


def _fail(code: ErrorCode, detail: str) -> VaultError:
    return VaultError(code, detail)


# --- argument checks ---------------------------------------------------------------

def _check_bytes(value: object, size: int, what: str) -> bytes:
    if not isinstance(value, bytes) or len(value) != size:
        got = len(value) if isinstance(value, bytes | bytearray | memoryview) else type(value)
        raise _fail(errors.INVALID_ARGUMENT, f"{what} must be {size} bytes, got {got}")
    return value


def _check_patient(patient: object) -> str:
    if not isinstance(patient, str) or not 0 < len(patient) <= MAX_PATIENT_LEN:
        raise _fail(errors.INVALID_ARGUMENT,
                    f"patient must be a DID string of 1..{MAX_PATIENT_LEN} characters")
    return patient


def _check_chunk_size(chunk_size: object) -> int:
    if not isinstance(chunk_size, int) or not 1 <= chunk_size <= MAX_CHUNK_SIZE:
        raise _fail(errors.INVALID_ARGUMENT, f"chunk size must be 1..{MAX_CHUNK_SIZE} bytes")
    return chunk_size


# --- steps 2 and 3: commitment, AAD, nonce ----------------------------------------

def commitment(salt: bytes, plaintext: bytes) -> bytes:
    """``tagged_hash("phrchain/record/commitment/v1", salt || plaintext)`` (step 2)."""
    _check_bytes(salt, SALT_SIZE, "salt")
    return tagged_hash(COMMITMENT_TAG, salt + plaintext)


def _commitment_hasher(salt: bytes) -> hashlib._Hash:
    """The same hash as :func:`commitment`, fed incrementally (streams, large objects)."""
    hasher = hashlib.sha256(domain_prefix(COMMITMENT_TAG))
    hasher.update(salt)
    return hasher


def chunk_aad(record_id: bytes, patient: str, index: int, count: int) -> bytes:
    """Associated data of chunk ``index`` of ``count`` (step 3): binds record, patient,
    position and count, so chunks cannot be swapped, reordered, moved or truncated."""
    _check_bytes(record_id, RECORD_ID_SIZE, "record id")
    _check_patient(patient)
    if not 0 <= index < count:
        raise _fail(errors.BAD_LAYOUT, f"chunk {index} of {count} does not exist")
    try:
        body = encoding.encode({"chunk": index, "chunks": count, "patient": patient,
                                "record": record_id.hex(), "v": 1})
    except EncodingError as exc:
        raise _fail(errors.INVALID_ARGUMENT, f"cannot encode chunk AAD: {exc}") from None
    return domain_prefix(AAD_TAG) + body


def chunk_nonce(index: int) -> bytes:
    """GCM nonce of chunk ``index``: the index as 12 bytes big-endian (step 3)."""
    return index.to_bytes(NONCE_SIZE, "big")


# --- where bytes fall ---------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Layout:
    """How ``salt || plaintext`` (``framed_len`` bytes) is cut into chunks."""

    framed_len: int
    chunk_size: int = CHUNK_SIZE

    @classmethod
    def of_plaintext(cls, plaintext_len: int, chunk_size: int = CHUNK_SIZE) -> Layout:
        if plaintext_len < 0:
            raise _fail(errors.INVALID_ARGUMENT, "plaintext length is negative")
        return cls(SALT_SIZE + plaintext_len, _check_chunk_size(chunk_size))

    @classmethod
    def of_record(cls, size: int, count: int, chunk_size: int = CHUNK_SIZE) -> Layout:
        """The layout of a stored record from its on-chain ``size`` and ``chunks``."""
        _check_chunk_size(chunk_size)
        if not isinstance(count, int) or not isinstance(size, int) or count < 1:
            raise _fail(errors.BAD_LAYOUT, f"a record has at least one chunk, not {count}")
        layout = cls(size - TAG_SIZE * count, chunk_size)
        if layout.framed_len < SALT_SIZE or layout.count != count:
            raise _fail(errors.BAD_LAYOUT, f"size {size} with {count} chunks of "
                        f"{chunk_size} bytes is not a possible record")
        return layout

    @property
    def count(self) -> int:
        """Number of chunks: ceil(framed / chunk_size); one for the smallest record."""
        return max(1, -(-self.framed_len // self.chunk_size))

    @property
    def size(self) -> int:
        """Total ciphertext bytes (step 4 ``size``)."""
        return self.framed_len + TAG_SIZE * self.count

    @property
    def plaintext_len(self) -> int:
        return self.framed_len - SALT_SIZE

    def plain_len(self, index: int) -> int:
        """Framed-plaintext bytes in chunk ``index``."""
        return min(self.chunk_size, self.framed_len - index * self.chunk_size)

    def check_chunk(self, index: int, chunk: bytes) -> None:
        want = self.plain_len(index) + TAG_SIZE
        if len(chunk) != want:
            raise _fail(errors.BAD_LAYOUT, f"chunk {index} of {self.count} is {len(chunk)} "
                        f"bytes, expected {want}")

    def covering(self, start: int, length: int) -> range:
        """Indices of the chunks holding plaintext bytes ``[start, start + length)``."""
        if (not isinstance(start, int) or not isinstance(length, int) or start < 0
                or length < 0 or start + length > self.plaintext_len):
            raise _fail(errors.BAD_RANGE, f"range [{start}, +{length}) is outside a "
                        f"plaintext of {self.plaintext_len} bytes")
        if length == 0:
            return range(0)
        first = (SALT_SIZE + start) // self.chunk_size
        last = (SALT_SIZE + start + length - 1) // self.chunk_size
        return range(first, last + 1)


# --- sealing (steps 1-4) --------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class RecordMeta:
    """What the chain registers about a record's ciphertext (``records/register``)."""

    record_id: bytes
    patient: str
    hash: bytes
    size: int
    chunks: int
    commitment: bytes
    chunk_size: int = CHUNK_SIZE
    hash_alg: str = SHA256  # the chunk hash (module docstring)

    def layout(self) -> Layout:
        return Layout.of_record(self.size, self.chunks, self.chunk_size)

    def descriptor_fields(self) -> dict[str, object]:
        """The ciphertext fields of a ``records/register`` message (hex as on chain)."""
        return {"record": self.record_id.hex(), "patient": self.patient,
                "hash": self.hash.hex(), "size": self.size, "chunks": self.chunks,
                "commitment": self.commitment.hex()}


@dataclass(frozen=True, slots=True)
class Sealed:
    """A record sealed in memory: ciphertext chunks plus the secrets that made them."""

    record_id: bytes
    patient: str
    data_key: bytes = field(repr=False)
    salt: bytes = field(repr=False)
    chunks: list[bytes] = field(repr=False)
    hash: bytes
    size: int
    commitment: bytes
    chunk_size: int = CHUNK_SIZE
    leaf_hashes: tuple[bytes, ...] = field(default=(), repr=False)
    hash_alg: str = SHA256

    @property
    def meta(self) -> RecordMeta:
        return RecordMeta(self.record_id, self.patient, self.hash, self.size,
                          len(self.chunks), self.commitment, self.chunk_size, self.hash_alg)


def _fresh(value: bytes | None, size: int, what: str) -> bytes:
    return os.urandom(size) if value is None else _check_bytes(value, size, what)


def seal(record_id: bytes, patient: str, plaintext: bytes, *, data_key: bytes | None = None,
         salt: bytes | None = None, chunk_size: int = CHUNK_SIZE,
         hash_alg: str = SHA256) -> Sealed:
    """Encrypt ``plaintext`` held in memory (records.md steps 1-4)."""
    leaf = leaf_hasher(hash_alg)
    _check_bytes(record_id, RECORD_ID_SIZE, "record id")
    _check_patient(patient)
    key = _fresh(data_key, KEY_SIZE, "data key")
    salt = _fresh(salt, SALT_SIZE, "salt")
    layout = Layout.of_plaintext(len(plaintext), chunk_size)
    framed = memoryview(salt + plaintext)
    aead = AESGCM(key)
    chunks = [aead.encrypt(chunk_nonce(i), framed[i * chunk_size:(i + 1) * chunk_size],
                           chunk_aad(record_id, patient, i, layout.count))
              for i in range(layout.count)]
    leaves = tuple(leaf(c) for c in chunks)
    return Sealed(record_id, patient, key, salt, chunks, rfc9162.root_from_leaf_hashes(leaves),
                  layout.size, commitment(salt, plaintext), chunk_size, leaves, hash_alg)


class StreamSealer:
    """Seal a large object read from a binary file object, one chunk at a time.

    ``length`` must be announced because every chunk's AAD binds the chunk count.
    Iterating yields the ciphertext chunks in order (once); memory stays at a few
    chunks. After iteration, :attr:`meta` is the record's on-chain description.
    """

    def __init__(self, record_id: bytes, patient: str, source: BinaryIO, length: int, *,
                 data_key: bytes | None = None, salt: bytes | None = None,
                 chunk_size: int = CHUNK_SIZE, hash_alg: str = SHA256) -> None:
        self.record_id = _check_bytes(record_id, RECORD_ID_SIZE, "record id")
        self.hash_alg, self._leaf = hash_alg, leaf_hasher(hash_alg)
        self.patient = _check_patient(patient)
        self.data_key = _fresh(data_key, KEY_SIZE, "data key")
        self.salt = _fresh(salt, SALT_SIZE, "salt")
        self.layout = Layout.of_plaintext(length, chunk_size)
        self._source = source
        self._leaves: list[bytes] = []
        self._meta: RecordMeta | None = None
        self._started = False

    @property
    def leaf_hashes(self) -> tuple[bytes, ...]:
        return tuple(self._leaves)

    @property
    def meta(self) -> RecordMeta:
        if self._meta is None:
            raise _fail(errors.INVALID_ARGUMENT, "the stream has not been sealed to the end")
        return self._meta

    def __iter__(self) -> Iterator[bytes]:
        for _leaf, chunk in self.sealed_chunks():
            yield chunk

    def sealed_chunks(self) -> Iterator[tuple[bytes, bytes]]:
        """``(leaf hash, ciphertext chunk)`` pairs in order: what the blob store needs."""
        if self._started:
            raise _fail(errors.INVALID_ARGUMENT, "a StreamSealer can be iterated only once")
        self._started = True
        layout, aead = self.layout, AESGCM(self.data_key)
        committed = _commitment_hasher(self.salt)
        pending = self.salt  # framed bytes read but not yet sealed (the salt, at first)
        for i in range(layout.count):
            want = layout.plain_len(i)
            piece = _read_exact(self._source, want - len(pending))
            committed.update(piece)
            plain = pending + piece if pending else piece
            pending = plain[want:]  # only when chunk_size < SALT_SIZE
            chunk = aead.encrypt(chunk_nonce(i), plain[:want] if pending else plain,
                                 chunk_aad(self.record_id, self.patient, i, layout.count))
            leaf = self._leaf(chunk)
            self._leaves.append(leaf)
            yield leaf, chunk
        if self._source.read(1):
            raise _fail(errors.STREAM_LENGTH, f"source is longer than the announced "
                        f"{layout.plaintext_len} bytes")
        self._meta = RecordMeta(self.record_id, self.patient,
                                rfc9162.root_from_leaf_hashes(self._leaves), layout.size,
                                layout.count, committed.digest(), layout.chunk_size,
                                self.hash_alg)


def _read_exact(source: BinaryIO, n: int) -> bytes:
    if n <= 0:
        return b""
    data = source.read(n)
    while len(data) < n:  # raw and network streams may return short reads
        more = source.read(n - len(data))
        if not more:
            raise _fail(errors.STREAM_LENGTH, f"source ended {n - len(data)} bytes early")
        data += more
    return data


# --- opening -------------------------------------------------------------------------

def open_chunk(record_id: bytes, patient: str, data_key: bytes, index: int, count: int,
               chunk: bytes) -> bytes:
    """AES-GCM-open chunk ``index`` of ``count``: its *framed* plaintext (chunk 0 starts
    with the salt). Authenticates key, record, patient, position and count, but not
    membership in a record hash: use :func:`read_range` for that."""
    _check_bytes(data_key, KEY_SIZE, "data key")
    return _open_chunk(AESGCM(data_key), record_id, patient, index, count, chunk)


def _open_chunk(aead: AESGCM, record_id: bytes, patient: str, index: int, count: int,
                chunk: bytes) -> bytes:
    aad = chunk_aad(record_id, patient, index, count)
    try:
        return aead.decrypt(chunk_nonce(index), chunk, aad)
    except InvalidTag:
        raise _fail(errors.CHUNK_AUTH_FAILED, f"chunk {index} of {count}") from None


def _check_root(leaves: Sequence[bytes], expected_hash: bytes) -> None:
    root = rfc9162.root_from_leaf_hashes(leaves)
    if root != expected_hash:
        raise _fail(errors.HASH_MISMATCH, f"root over {len(leaves)} chunks is "
                    f"{root.hex()[:16]}…, expected {expected_hash.hex()[:16]}…")


def _check_commitment(got: bytes, expected: bytes) -> None:
    if got != expected:
        raise _fail(errors.COMMITMENT_MISMATCH, f"plaintext commits to {got.hex()[:16]}…, "
                    f"expected {expected.hex()[:16]}…")


def open_sealed(record_id: bytes, patient: str, data_key: bytes, chunks: Sequence[bytes], *,
                expected_hash: bytes, expected_commitment: bytes,
                chunk_size: int = CHUNK_SIZE, hash_alg: str = SHA256) -> bytes:
    """Verify and decrypt a whole record held in memory; returns the plaintext.

    Order of checks: chunk layout, RFC 9162 root against ``expected_hash`` (the chain's
    ``hash``: catches any altered, missing, extra or reordered chunk), AES-GCM of every
    chunk (wrong key, record, patient, position, count), then the salted commitment.
    """
    _check_bytes(data_key, KEY_SIZE, "data key")
    _check_bytes(expected_hash, 32, "expected hash")
    _check_bytes(expected_commitment, 32, "expected commitment")
    layout = Layout.of_record(sum(len(c) for c in chunks), len(chunks), chunk_size)
    for i, chunk in enumerate(chunks):
        layout.check_chunk(i, chunk)
    leaf = leaf_hasher(hash_alg)
    _check_root([leaf(c) for c in chunks], expected_hash)
    aead = AESGCM(data_key)
    framed = b"".join(_open_chunk(aead, record_id, patient, i, layout.count, c)
                      for i, c in enumerate(chunks))
    salt, plaintext = framed[:SALT_SIZE], framed[SALT_SIZE:]
    _check_commitment(commitment(salt, plaintext), expected_commitment)
    return plaintext


class Sink(Protocol):
    def write(self, data: bytes, /) -> object: ...


def open_stream(record_id: bytes, patient: str, data_key: bytes, chunks: Iterable[bytes],
                sink: Sink, *, leaf_hashes: Sequence[bytes], expected_hash: bytes,
                expected_commitment: bytes, chunk_size: int = CHUNK_SIZE,
                size: int | None = None, hash_alg: str = SHA256) -> int:
    """Verify and decrypt a large record chunk by chunk into ``sink``; returns the
    number of plaintext bytes written.

    ``leaf_hashes`` (e.g. from the blob store) are first checked against
    ``expected_hash``; then each chunk must match its leaf hash *before* it is
    decrypted and written, so only chunks of the registered ciphertext reach the sink.
    The commitment covers the whole plaintext and can only be checked at the end: on
    :data:`~phrchain.vault.errors.COMMITMENT_MISMATCH` or a missing chunk the caller
    must discard what was written.
    """
    _check_bytes(data_key, KEY_SIZE, "data key")
    _check_bytes(expected_hash, 32, "expected hash")
    _check_root(leaf_hashes, expected_hash)
    leaf = leaf_hasher(hash_alg)
    count = len(leaf_hashes)
    aead, committed = AESGCM(data_key), hashlib.sha256(domain_prefix(COMMITMENT_TAG))
    skip, written, seen = SALT_SIZE, 0, 0
    full = chunk_size + TAG_SIZE
    for i, chunk in enumerate(chunks):
        if i >= count:
            raise _fail(errors.BAD_LAYOUT, f"more than the {count} chunks registered")
        if len(chunk) > full or (i < count - 1 and len(chunk) != full):
            raise _fail(errors.BAD_LAYOUT, f"chunk {i} of {count} is {len(chunk)} bytes")
        if leaf(chunk) != leaf_hashes[i]:
            raise _fail(errors.HASH_MISMATCH, f"chunk {i} of {count} is not the registered one")
        plain = _open_chunk(aead, record_id, patient, i, count, chunk)
        committed.update(plain)
        seen = i + 1
        if skip >= len(plain):
            skip -= len(plain)
            continue
        sink.write(plain[skip:] if skip else plain)
        written += len(plain) - skip
        skip = 0
    if seen != count:
        raise _fail(errors.BAD_LAYOUT, f"got {seen} of {count} chunks")
    if skip or (size is not None and written != Layout.of_record(size, count,
                                                                 chunk_size).plaintext_len):
        raise _fail(errors.BAD_LAYOUT, "framed plaintext is shorter than its salt or size")
    _check_commitment(committed.digest(), expected_commitment)
    return written


@dataclass(frozen=True, slots=True)
class ChunkPart:
    """One ciphertext chunk with its RFC 9162 inclusion proof against the record hash."""

    index: int
    data: bytes = field(repr=False)
    proof: tuple[bytes, ...] = ()


def read_range(record_id: bytes, patient: str, data_key: bytes, parts: Sequence[ChunkPart],
               *, start: int, length: int, expected_hash: bytes, count: int, size: int,
               chunk_size: int = CHUNK_SIZE, hash_alg: str = SHA256) -> bytes:
    """Plaintext bytes ``[start, start + length)`` of a record from only the chunks that
    cover them (``Layout.covering``), each checked by inclusion proof against
    ``expected_hash`` (tree size ``count``, both from the chain) and by AES-GCM.

    Offsets are plaintext offsets: the 32-byte salt in front is skipped. The commitment
    covers the whole plaintext, so a range read cannot check it.
    """
    _check_bytes(data_key, KEY_SIZE, "data key")
    _check_bytes(expected_hash, 32, "expected hash")
    layout = Layout.of_record(size, count, chunk_size)
    wanted = layout.covering(start, length)
    if [p.index for p in parts] != list(wanted):
        raise _fail(errors.BAD_RANGE, f"range [{start}, +{length}) needs chunks "
                    f"{list(wanted)}, got {[p.index for p in parts]}")
    aead, leaf = AESGCM(data_key), leaf_hasher(hash_alg)
    pieces = []
    for part in parts:
        layout.check_chunk(part.index, part.data)
        try:
            rfc9162.verify_inclusion(leaf(part.data), part.index, count,
                                     part.proof, expected_hash)
        except ProofError as exc:
            raise _fail(errors.BAD_PROOF, f"chunk {part.index} of {count}: {exc}") from None
        pieces.append(_open_chunk(aead, record_id, patient, part.index, count, part.data))
    if not pieces:
        return b""
    offset = SALT_SIZE + start - wanted.start * chunk_size  # into the first chunk
    return b"".join(pieces)[offset:offset + length]


# --- step 5: wrapping the data key for a reader -----------------------------------------

def wrap_info(record_id: bytes, reader_did: str) -> bytes:
    """HPKE ``info``: binds the wrapped key to one record and one reader (step 5)."""
    _check_bytes(record_id, RECORD_ID_SIZE, "record id")
    if not isinstance(reader_did, str) or not 0 < len(reader_did) <= MAX_PATIENT_LEN:
        raise _fail(errors.INVALID_ARGUMENT, "reader must be a DID string")
    try:
        body = encoding.encode({"reader": reader_did, "record": record_id.hex()})
    except EncodingError as exc:
        raise _fail(errors.INVALID_ARGUMENT, f"cannot encode wrap info: {exc}") from None
    return domain_prefix(WRAP_TAG) + body


def wrap_key(data_key: bytes, reader_enc_public: bytes, record_id: bytes,
             reader_did: str) -> bytes:
    """HPKE-seal ``data_key`` to the reader's registered X25519 ``enc_key``: 80 bytes."""
    _check_bytes(data_key, KEY_SIZE, "data key")
    try:
        keys.check_x25519_public_key(reader_enc_public)
    except CryptoError as exc:
        raise _fail(errors.BAD_READER_KEY, str(exc)) from None
    info = wrap_info(record_id, reader_did)
    public = X25519PublicKey.from_public_bytes(reader_enc_public)
    return HPKE_SUITE.encrypt(data_key, public, info=info)


def unwrap_key(wrapped: bytes, reader_key: keys.EncryptionKey, record_id: bytes,
               reader_did: str) -> bytes:
    """Open a wrapped data key with the reader's X25519 private key."""
    if not isinstance(wrapped, bytes) or len(wrapped) != WRAPPED_KEY_SIZE:
        got = len(wrapped) if isinstance(wrapped, bytes) else type(wrapped).__name__
        raise _fail(errors.MALFORMED_WRAPPED_KEY, f"got {got}")
    info = wrap_info(record_id, reader_did)
    try:
        data_key = HPKE_SUITE.decrypt(wrapped, reader_key.private(), info=info)
    except InvalidTag:
        raise _fail(errors.UNWRAP_FAILED, f"record {record_id.hex()}, reader "
                    f"{reader_did}") from None
    if len(data_key) != KEY_SIZE:  # only a wrapper that sealed something else
        raise _fail(errors.UNWRAP_FAILED, f"wrapped secret is {len(data_key)} bytes")
    return data_key
