"""SHA-256 with domain separation.

Every hash phrchain computes over its own structures is ``SHA-256(tag || 0x00 || data)``
with a tag from :data:`TAGS`, so that bytes hashed in one role can never be confused
with bytes hashed in another (a tx body with a header, a state leaf with a node).

Two families are deliberately *not* tagged, because outside verifiers compute them:
RFC 9162 Merkle trees (their own 0x00/0x01 prefixes, see ``rfc9162.py``) and the tx
hash, which is plain SHA-256 of the tx bytes exactly as CometBFT computes it.
"""

from __future__ import annotations

import hashlib
from typing import Final

# tag -> purpose. Tags are part of consensus: never change one, add a new one.
TAGS: Final[dict[str, str]] = {
    "phrchain/tx/sign/v1": "bytes an Ed25519 tx signature covers",
    "phrchain/header/v1": "block header hash (the block id)",
    "phrchain/header/sign/v1": "bytes the proposer signs for a header",
    "phrchain/smt/key/v1": "path of a state key in the sparse Merkle tree",
    "phrchain/smt/value/v1": "hash of a state value in the sparse Merkle tree",
    "phrchain/smt/leaf/v1": "sparse Merkle tree leaf node",
    "phrchain/smt/node/v1": "sparse Merkle tree internal node",
    "phrchain/rotate/v1": "proof that the holder of a new key agrees to a key rotation",
    "phrchain/admit/v1": "proof that the holder of an admitted key agrees to its admission",
    "phrchain/result/v1": "a tx result leaf in the block's results root",
    "phrchain/record/commitment/v1": "salted commitment to a record's plaintext",
    "phrchain/record/aad/v1": "associated data of a record chunk's AEAD encryption",
    "phrchain/record/wrap/v1": "HPKE info binding a wrapped data key to record and reader",
    "phrchain/record/descriptor/v1": "commitment to a record's sealed descriptor (what the "
                                     "record is: type, category, author, exact size)",
    "phrchain/genome/commitment/v1": "salted commitment to a genomic object's plaintext "
                                     "(through its SHA-256, one pass for both)",
    "phrchain/genome/descriptor/v1": "commitment to a genomic object's sealed descriptor "
                                     "(plaintext SHA-256, refget digests, exact sizes)",
    "phrchain/genome/study-pseudonym/v1": "HMAC message of a sample's per-study pseudonym "
                                          "in a research VCF export",
    "phrchain/vault/request/v1": "bytes a caller signs for a vault request",
    "phrchain/export/v1": "bytes a patient's portable record export binds",
    "phrchain/break-glass/justification/v1": "salted commitment to an emergency access's "
                                             "reason (kept by the institution)",
    "phrchain/claims/code-tag/v1": "HMAC message of a code blinded under a product key",
    "phrchain/claims/product-id/v1": "an insurer's product id from its stable name",
    "phrchain/claims/encounter/v1": "a provider's opaque encounter key on a bill",
    "phrchain/audit/commitment/v1": "salted commitment to a sealed audit entry's plaintext",
    "phrchain/audit/aad/v1": "associated data of a sealed audit entry's AEAD encryption",
    "phrchain/audit/wrap/v1": "HPKE info binding an audit entry's wrapped key to entry "
                              "and reader",
    "phrchain/supply/alert-id/v1": "a monitoring alert's id from its dispense and kind",
    "phrchain/supply/patient-tag/v1": "HMAC message of a patient's monitoring tag",
    "phrchain/supply/rx-tag/v1": "HMAC message of a prescription's monitoring tag",
    "phrchain/supply/rx-commitment/v1": "salted commitment to a prescription's record id, "
                                        "quantity and refills (kept by the pharmacy)",
    "phrchain/supply/prescription/v1": "bytes a prescriber signs to authorize a "
                                       "prescription's registration (supply/prescribe)",
    "phrchain/trials/commitment/v1": "salted commitment to a trial document or case-report "
                                     "entry (kept by the sponsor or site)",
    "phrchain/trials/audit-export/v1": "bytes the exporter of a trial's audit proof file "
                                       "signs",
    "phrchain/trials/document/v1": "vault record id of a trial document (trial, kind, "
                                   "commitment)",
}

_PREFIX: Final[dict[str, bytes]] = {t: t.encode("ascii") + b"\x00" for t in TAGS}


def domain_prefix(tag: str) -> bytes:
    """The bytes placed before data hashed or signed under ``tag``."""
    try:
        return _PREFIX[tag]
    except KeyError:
        raise ValueError(f"unknown hash domain tag {tag!r}") from None


def tagged_hash(tag: str, data: bytes) -> bytes:
    """``SHA-256(tag || 0x00 || data)``."""
    return hashlib.sha256(domain_prefix(tag) + data).digest()


def sha256(data: bytes) -> bytes:
    """Plain SHA-256, only for hashes defined by outside specs (tx hash, RFC 9162)."""
    return hashlib.sha256(data).digest()
