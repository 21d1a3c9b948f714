"""The sealed genome descriptor: the record descriptor extended for genomic objects
(``docs/genomics.md`` § On chain and sealed).

plaintext = canonical encoding of ``{"v": 1, "kind": "genome", "record", "resource",
"category": "genomic", "author", "format", "size", "segments", "plain_size", "sha256",
"refget": [[name, "SQ.…", length], …], "index": sha256 hex of the region index or "",
"salt", "object_salt": the salt of the object's commitment (``objects.commitment``)}``,
zero-padded to :data:`PADDED_SIZE`; sealed with ChaCha20-Poly1305 under
``HKDF-SHA256(data key, info = "phrchain/genome/descriptor/v1" ‖ record id)``, nonce 12
zero bytes (one message per key), AAD = record id. Its commitment
``tagged_hash("phrchain/genome/descriptor/v1", plaintext)`` is the ``descriptor`` of the
object's ``records/register``. Everything here that could link or identify (the
plaintext SHA-256 and refget digests match any other copy of the same data; the exact
size narrows the assay) is sealed; the chain has only the commitment.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any, Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from phrchain.core import encoding
from phrchain.core.errors import EncodingError
from phrchain.core.hashing import tagged_hash
from phrchain.genome import errors

TAG: Final = "phrchain/genome/descriptor/v1"
PADDED_SIZE: Final = 8192
SEALED_SIZE: Final = PADDED_SIZE + 16
FORMATS: Final = frozenset({"vcf", "bcf", "bam", "cram", "fastq", "fasta"})
MAX_REFGET: Final = 64
_NONCE: Final = bytes(12)


@dataclass(frozen=True)
class GenomeDescriptor:
    record: str
    author: str
    format: str
    size: int
    segments: int
    plain_size: int
    sha256: str
    refget: list[list[Any]] = field(default_factory=list)
    index: str = ""
    salt: str = ""
    resource: str = "MolecularSequence"
    object_salt: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"v": 1, "kind": "genome", "record": self.record, "resource": self.resource,
                "category": "genomic", "author": self.author, "format": self.format,
                "size": self.size, "segments": self.segments, "plain_size": self.plain_size,
                "sha256": self.sha256, "refget": self.refget, "index": self.index,
                "salt": self.salt or secrets.token_hex(16), "object_salt": self.object_salt}

    def plaintext(self) -> bytes:
        if not self.salt:
            raise errors.BAD_DESCRIPTOR("a descriptor needs its salt")
        data = encoding.encode(self.to_json())
        if len(data) > PADDED_SIZE:
            raise errors.BAD_DESCRIPTOR(f"over {PADDED_SIZE} bytes encoded")
        return data

    def commitment(self) -> bytes:
        return tagged_hash(TAG, self.plaintext())

    @classmethod
    def new(cls, **fields: Any) -> GenomeDescriptor:
        fields.setdefault("salt", secrets.token_hex(16))
        found = cls(**fields)
        if found.format not in FORMATS or len(found.refget) > MAX_REFGET:
            raise errors.BAD_DESCRIPTOR(f"format {found.format!r} or too many sequences")
        found.plaintext()
        return found


def _key(data_key: bytes, record_id: bytes) -> bytes:
    return HKDF(hashes.SHA256(), 32, None, TAG.encode() + record_id).derive(data_key)


def seal(descriptor: GenomeDescriptor, data_key: bytes) -> bytes:
    record_id = bytes.fromhex(descriptor.record)
    padded = descriptor.plaintext().ljust(PADDED_SIZE, b"\0")
    return ChaCha20Poly1305(_key(data_key, record_id)).encrypt(_NONCE, padded, record_id)


def open_sealed(sealed: bytes, data_key: bytes, record_id: bytes,
                expected_commitment: bytes) -> GenomeDescriptor:
    """Open and check against the chain's commitment; ``c4gh/18 bad_descriptor``."""
    if len(sealed) != SEALED_SIZE:
        raise errors.BAD_DESCRIPTOR(f"{len(sealed)} bytes")
    try:
        padded = ChaCha20Poly1305(_key(data_key, record_id)).decrypt(_NONCE, sealed,
                                                                     record_id)
    except InvalidTag:
        raise errors.BAD_DESCRIPTOR(f"record {record_id.hex()}: does not open") from None
    plaintext = padded.rstrip(b"\0")
    if tagged_hash(TAG, plaintext) != expected_commitment:
        raise errors.BAD_DESCRIPTOR(f"record {record_id.hex()}: not the committed one")
    try:
        d = encoding.decode(plaintext)
        if not isinstance(d, dict) or d.get("kind") != "genome" or d.get("v") != 1 \
                or d.get("record") != record_id.hex():
            raise TypeError
        return GenomeDescriptor(d["record"], d["author"], d["format"], d["size"],
                                d["segments"], d["plain_size"], d["sha256"], d["refget"],
                                d["index"], d["salt"], d["resource"], d["object_salt"])
    except (EncodingError, TypeError, KeyError):
        raise errors.BAD_DESCRIPTOR(f"record {record_id.hex()}: malformed") from None
