"""Sealed record descriptors (docs/privacy-v2-design.md § 2, docs/records.md).

What a record *is* — FHIR resource type, category, the practitioner who wrote it, its
exact ciphertext size and chunk count — never goes on chain (v2). It is a small
plaintext sealed under the record's own data key, kept by the vault next to the
ciphertext, and committed to on chain (``records/register``'s ``descriptor``):

- plaintext = canonical encoding (``core.encoding``) of ``{"v": 1, "record": hex,
  "resource", "category", "author": did, "size": exact ciphertext bytes, "chunks": n,
  "salt": 32 hex random}`` and, for a record whose chunk hash is not SHA-256,
  ``"hash_alg"`` (``vault/crypto.py``; absent = SHA-256, so every earlier descriptor and
  its commitment are unchanged), then zero bytes up to :data:`PADDED_SIZE` (all
  descriptors look alike in length);
- key = HKDF-SHA256(data key, salt none, info = ``"phrchain/record/descriptor/v1"`` ||
  record id (16 bytes)), 32 bytes; AES-256-GCM with a zero nonce (the key is unique to
  the record: one message per key), AAD = the record id (16 bytes);
- commitment = ``tagged_hash("phrchain/record/descriptor/v1", canonical plaintext)``
  (without the padding), SHA-256 over the tag, a 0 byte and the bytes.

Whoever unwraps the record's data key (owner, custodian, grantees) opens it; they check
it against the chain's commitment. The salt makes the commitment hide the few possible
values of type and category. Every failure is a :class:`VaultError` with a stable code.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any, Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from phrchain.core import encoding
from phrchain.core.errors import EncodingError
from phrchain.core.hashing import tagged_hash
from phrchain.modules.records.messages import CATEGORIES, RESOURCE_RE
from phrchain.vault import errors
from phrchain.vault.crypto import HASH_ALGS, KEY_SIZE, RECORD_ID_SIZE, SHA256, TAG_SIZE
from phrchain.vault.errors import VaultError

__all__ = ["DESCRIPTOR_TAG", "PADDED_SIZE", "SEALED_SIZE", "Descriptor", "commitment_of",
           "descriptor_key", "open_descriptor", "seal_descriptor"]

DESCRIPTOR_TAG: Final = "phrchain/record/descriptor/v1"
PADDED_SIZE: Final = 512
SEALED_SIZE: Final = PADDED_SIZE + TAG_SIZE
VERSION: Final = 1
_NONCE: Final = bytes(12)  # the key is derived for this record only: one message per key
_FIELDS: Final = frozenset({"v", "record", "resource", "category", "author", "size",
                            "chunks", "salt"})


@dataclass(frozen=True, slots=True)
class Descriptor:
    """What a record is, as sealed. ``size`` is the exact ciphertext size (the chain has
    only its bucket); ``salt`` is 32 hex characters, fresh per record."""

    record: str
    resource: str
    category: str
    author: str
    size: int
    chunks: int
    salt: str
    hash_alg: str = SHA256

    @classmethod
    def new(cls, record: str, resource: str, category: str, author: str, size: int,
            chunks: int, salt: str | None = None, hash_alg: str = SHA256) -> Descriptor:
        """A descriptor with a fresh salt (or ``salt``, for test vectors), checked."""
        found = cls(record, resource, category, author, size, chunks,
                    secrets.token_hex(16) if salt is None else salt, hash_alg)
        found.check()
        return found

    def to_json(self) -> dict[str, Any]:
        out = {"v": VERSION, "record": self.record, "resource": self.resource,
               "category": self.category, "author": self.author, "size": self.size,
               "chunks": self.chunks, "salt": self.salt}
        if self.hash_alg != SHA256:
            out["hash_alg"] = self.hash_alg
        return out

    def plaintext(self) -> bytes:
        """The canonical encoding the commitment covers (unpadded)."""
        return encoding.encode(self.to_json())

    def commitment(self) -> bytes:
        return commitment_of(self.plaintext())

    def check(self) -> None:
        """Raise ``invalid_argument`` unless every field is well formed."""
        ok = (_is_hex(self.record, RECORD_ID_SIZE) and isinstance(self.resource, str)
              and RESOURCE_RE.fullmatch(self.resource) is not None
              and self.category in CATEGORIES and isinstance(self.author, str)
              and 0 < len(self.author) <= 256 and type(self.size) is int
              and 0 < self.size <= 1 << 40 and type(self.chunks) is int
              and 0 < self.chunks <= self.size and _is_hex(self.salt, 16)
              and self.hash_alg in HASH_ALGS)
        if not ok:
            raise VaultError(errors.INVALID_ARGUMENT, "descriptor fields are malformed")
        if len(self.plaintext()) > PADDED_SIZE:
            raise VaultError(errors.INVALID_ARGUMENT,
                             f"descriptor is over {PADDED_SIZE} bytes encoded")


def _is_hex(value: object, size: int) -> bool:
    if not isinstance(value, str) or len(value) != 2 * size:
        return False
    try:
        return bytes.fromhex(value).hex() == value
    except ValueError:
        return False


def commitment_of(plaintext: bytes) -> bytes:
    """``tagged_hash(DESCRIPTOR_TAG, plaintext)``: what ``records/register`` carries."""
    return tagged_hash(DESCRIPTOR_TAG, plaintext)


def descriptor_key(data_key: bytes, record_id: bytes) -> bytes:
    """HKDF-SHA256(data key, info = tag || record id): the descriptor's AES-256 key."""
    if not isinstance(data_key, bytes) or len(data_key) != KEY_SIZE:
        raise VaultError(errors.INVALID_ARGUMENT, f"data key must be {KEY_SIZE} bytes")
    _check_record_id(record_id)
    return HKDF(hashes.SHA256(), KEY_SIZE, None,
                DESCRIPTOR_TAG.encode() + record_id).derive(data_key)


def _check_record_id(record_id: bytes) -> None:
    if not isinstance(record_id, bytes) or len(record_id) != RECORD_ID_SIZE:
        raise VaultError(errors.INVALID_ARGUMENT, f"record id must be {RECORD_ID_SIZE} bytes")


def seal_descriptor(descriptor: Descriptor, data_key: bytes) -> bytes:
    """The sealed descriptor: :data:`SEALED_SIZE` bytes."""
    descriptor.check()
    record_id = bytes.fromhex(descriptor.record)
    padded = descriptor.plaintext().ljust(PADDED_SIZE, b"\0")
    return AESGCM(descriptor_key(data_key, record_id)).encrypt(_NONCE, padded, record_id)


def open_descriptor(sealed: bytes, data_key: bytes, record_id: bytes,
                    expected_commitment: bytes) -> Descriptor:
    """Open a sealed descriptor of ``record_id`` and check it against the chain's
    commitment. ``vault/18 descriptor_invalid`` for every failure: wrong key or record,
    truncated or altered, or it opens but is not what the chain committed to, or not a
    well-formed descriptor of this record (the detail says which)."""
    _check_record_id(record_id)
    if not isinstance(sealed, bytes) or len(sealed) != SEALED_SIZE:
        got = len(sealed) if isinstance(sealed, bytes) else type(sealed).__name__
        raise VaultError(errors.DESCRIPTOR_INVALID,
                         f"a sealed descriptor is {SEALED_SIZE} bytes, got {got}")
    try:
        padded = AESGCM(descriptor_key(data_key, record_id)).decrypt(_NONCE, sealed, record_id)
    except InvalidTag:
        raise VaultError(errors.DESCRIPTOR_INVALID, f"record {record_id.hex()}") from None
    plaintext = padded.rstrip(b"\0")
    if commitment_of(plaintext) != expected_commitment:
        raise VaultError(errors.DESCRIPTOR_INVALID, f"record {record_id.hex()}: the "
                         "descriptor differs from its commitment on chain")
    try:
        fields = encoding.decode(plaintext)
        if not isinstance(fields, dict) or set(fields) - {"hash_alg"} != _FIELDS \
                or fields["v"] != VERSION or fields.get("hash_alg") == SHA256:
            raise TypeError("fields")  # SHA-256 is said by leaving hash_alg out
        found = Descriptor(fields["record"], fields["resource"], fields["category"],
                           fields["author"], fields["size"], fields["chunks"], fields["salt"],
                           fields.get("hash_alg", SHA256))
        found.check()
    except (EncodingError, TypeError, VaultError):
        raise VaultError(errors.DESCRIPTOR_INVALID, f"record {record_id.hex()}: not a "
                         "well-formed descriptor") from None
    if found.record != record_id.hex():
        raise VaultError(errors.DESCRIPTOR_INVALID, f"record {record_id.hex()}: the "
                         f"descriptor is of record {found.record}")
    return found
