"""Stable error codes of the vault (codespace ``vault``, codes 1-19). Never renumber.

::

    PhrError
    └── CodedError              carries a stable (codespace, code) pair
        └── VaultError          every failure of vault.crypto and vault.blobs, and every
                                refusal of a vault gateway (codes 20-39,
                                vault/gateway_errors.py); ``.error`` is the code,
                                ``.detail`` names what failed (never plaintext or key
                                bytes). Off chain: never a consensus code (TxError).

Catch :class:`VaultError` for "the vault refused"; compare ``err.error`` with a code
below for the reason. Nothing in the vault returns ``False`` for "invalid".
"""

from __future__ import annotations

from phrchain.core.errors import CodedError, ErrorCode, bind_codespace, register

INVALID_ARGUMENT = register(
    "vault", 1, "invalid_argument",
    "record id, patient, data key, salt or chunk size is malformed")
HASH_MISMATCH = register(
    "vault", 2, "hash_mismatch",
    "chunk ciphertexts do not hash to the record's hash")
CHUNK_AUTH_FAILED = register(
    "vault", 3, "chunk_auth_failed",
    "a chunk failed AES-GCM authentication (wrong data key, record, patient, position "
    "or chunk count, or altered ciphertext)")
COMMITMENT_MISMATCH = register(
    "vault", 4, "commitment_mismatch",
    "decrypted plaintext does not match the record's commitment")
BAD_LAYOUT = register(
    "vault", 5, "bad_layout",
    "chunk count, chunk sizes or total size do not fit the record's framing")
BAD_PROOF = register(
    "vault", 6, "bad_proof",
    "a chunk's inclusion proof does not verify against the record's hash")
BAD_RANGE = register(
    "vault", 7, "bad_range",
    "byte range is outside the record or not exactly covered by the chunks given")
BAD_READER_KEY = register(
    "vault", 8, "bad_reader_key",
    "reader's encryption public key is malformed or of low order")
MALFORMED_WRAPPED_KEY = register(
    "vault", 9, "malformed_wrapped_key",
    "wrapped data key is not 80 bytes")
UNWRAP_FAILED = register(
    "vault", 10, "unwrap_failed",
    "wrapped data key does not open for this reader and record (wrong reader key, "
    "another record or reader, or altered bytes)")
RECORD_NOT_FOUND = register(
    "vault", 11, "record_not_found", "the vault holds no such record")
RECORD_CONFLICT = register(
    "vault", 12, "record_conflict",
    "the vault already holds a different record with this id")
READER_NOT_FOUND = register(
    "vault", 13, "reader_not_found",
    "the vault holds no wrapped data key for this reader and record")
STREAM_LENGTH = register(
    "vault", 14, "stream_length",
    "the source gave a different number of bytes than announced")
SHRED_INCOMPLETE = register(
    "vault", 15, "shred_incomplete",
    "record was deleted but the write-ahead log could not be truncated; erased bytes "
    "may remain in the -wal file until the next successful shred or checkpoint")
STORE_DAMAGED = register(
    "vault", 16, "store_damaged",
    "the vault's store is damaged (SQLite integrity, an unreadable or altered row, rows of "
    "no record): run `phrchain vault verify` and restore the record from a holder")
UNKNOWN_READER = register(
    "vault", 17, "unknown_reader",
    "a wrapped data key names a reader that is not a well-formed did:key or not an "
    "identity on chain (an altered row)")
# 19 is the sealed audit entry's (docs/privacy-v2-design.md section 4).
DESCRIPTOR_INVALID = register(
    "vault", 18, "descriptor_invalid",
    "a sealed record descriptor does not open (wrong data key or record id, truncated or "
    "altered) or is not the descriptor of this record its commitment on chain names")

# 18 is left for the sealed record descriptor (docs/privacy-v2-design.md section 2).
AUDIT_ENTRY_INVALID = register(
    "vault", 19, "audit_entry_invalid",
    "an audit entry is malformed or inconsistent (decision, reason, consent and "
    "break-glass flag disagree), or a sealed audit entry does not open for this reader "
    "or does not match its commitment")

class VaultError(CodedError):
    """A vault check or store operation failed; ``error`` says which, ``detail`` where."""

    def __init__(self, error: ErrorCode, detail: str = "") -> None:
        if error.codespace != "vault":
            raise ValueError(f"{error.codespace}/{error.code} is not a vault error code")
        super().__init__(error, detail)


bind_codespace("vault", VaultError)
