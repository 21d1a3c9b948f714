"""phrchain's one exception tree.

::

    PhrError                      every error phrchain raises on purpose
    ├── EncodingError             bytes that are not canonical phrchain encoding
    ├── CryptoError               bad key, bad signature, bad did:key
    ├── ProofError                a Merkle / state proof that does not verify
    └── TxError                   a transaction rejected by the state machine;
                                  carries a stable ``(codespace, code)`` pair

``TxError`` codes are part of consensus: they land in block results and every node must
produce the same one. They are listed in ``docs/errors.md`` and never renumbered.
Checks raise; nothing returns ``False`` for "invalid".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


class PhrError(Exception):
    """Base of every error phrchain raises deliberately."""


class EncodingError(PhrError):
    """Input is not in the one canonical encoding."""


class CryptoError(PhrError):
    """A key, signature or DID is malformed or does not verify."""


class ProofError(PhrError):
    """A Merkle inclusion, consistency or state proof failed to verify."""


@dataclass(frozen=True, slots=True)
class ErrorCode:
    """A stable ``(codespace, code)`` pair with its short name and human sentence."""

    codespace: str
    code: int
    name: str
    message: str

    def __call__(self, detail: str = "") -> TxError:
        return TxError(self, detail)


class TxError(PhrError):
    """A transaction or query rejected with a stable code."""

    def __init__(self, error: ErrorCode, detail: str = "") -> None:
        self.error = error
        self.detail = detail
        super().__init__(f"[{error.codespace}/{error.code} {error.name}] {error.message}"
                         + (f": {detail}" if detail else ""))

    @property
    def codespace(self) -> str:
        return self.error.codespace

    @property
    def code(self) -> int:
        return self.error.code

    @property
    def log(self) -> str:
        """The human sentence stored in the tx result (never contains health data)."""
        return self.error.message + (f": {self.detail}" if self.detail else "")


REGISTRY: Final[dict[tuple[str, int], ErrorCode]] = {}


def register(codespace: str, code: int, name: str, message: str) -> ErrorCode:
    """Declare an error code once, at import time. Duplicates are a programming error."""
    if code <= 0:
        raise ValueError("code 0 means success and cannot be registered")
    key = (codespace, code)
    if key in REGISTRY:
        raise ValueError(f"error code {codespace}/{code} registered twice")
    err = ErrorCode(codespace, code, name, message)
    REGISTRY[key] = err
    return err


# Codespace "tx": the envelope and the ante checks every tx passes before its messages.
MALFORMED_TX = register("tx", 1, "malformed_tx", "transaction bytes are not a valid envelope")
TX_TOO_LARGE = register("tx", 2, "tx_too_large", "transaction exceeds the size limit")
UNSUPPORTED_VERSION = register("tx", 3, "unsupported_version", "unsupported envelope version")
WRONG_CHAIN = register("tx", 4, "wrong_chain_id", "transaction is for another chain")
BAD_SIGNATURE = register("tx", 5, "bad_signature", "signature does not verify")
NONCE_REPLAYED = register("tx", 6, "nonce_replayed", "nonce already used by this signer")
NONCE_SKIPPED = register("tx", 7, "nonce_skipped", "nonce skips ahead of the next expected one")
UNKNOWN_SIGNER = register("tx", 8, "unknown_signer", "signer is not a registered identity")
REVOKED_SIGNER = register("tx", 9, "revoked_signer", "signer identity or key is revoked")
UNKNOWN_MESSAGE = register("tx", 10, "unknown_message_type", "message type is not known")
# tx/11 was "malformed_message", retired before any release (modules report invalid
# fields with their own codes); do not reuse 11.
TOO_MANY_MESSAGES = register("tx", 12, "too_many_messages", "transaction carries too many messages")
DUPLICATE_TX = register("tx", 13, "duplicate_tx", "transaction is already known")
MEMPOOL_FULL = register("tx", 14, "mempool_full", "mempool is full, try again later")
OUT_OF_GAS = register("tx", 15, "too_many_writes", "transaction writes too much state")
# Codespace "query".
UNKNOWN_QUERY = register("query", 1, "unknown_path", "no such query path")
BAD_QUERY = register("query", 2, "bad_query", "query data is invalid")
HEIGHT_UNAVAILABLE = register("query", 3, "height_unavailable", "height is not retained")
NOT_FOUND = register("query", 4, "not_found", "nothing stored under that key")
STATE_CORRUPT = register("query", 5, "state_corrupt",
                         "the node's stored state does not match its committed app hash; "
                         "its operator must rebuild it from the blocks")
