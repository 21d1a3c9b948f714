"""phrchain's one exception tree.

::

    PhrError                      every error phrchain raises on purpose
    ├── EncodingError             bytes that are not canonical phrchain encoding
    ├── CryptoError               bad key, bad signature, bad did:key
    ├── ProofError                a Merkle / state proof that does not verify
    ├── CodedError                a refusal with a stable (codespace, code) pair, a short
    │   │                         name and a human sentence (``docs/errors.md``)
    │   ├── TxError               on chain: the state machine refused a tx or a query
    │   ├── VaultError            off chain: a vault (phrchain.vault.errors)
    │   ├── FhirError             off chain: FHIR input or mapping (phrchain.fhir.errors)
    │   ├── GenomeError           off chain: crypt4gh, proofs, regions, VCF
    │   │                         (phrchain.genome.errors, codespace ``c4gh``)
    │   ├── TrialFileError        off chain: a trial proof file or document (also a
    │   │                         ProofError; phrchain.client.trialfile.errors)
    │   └── LightClientError      off chain: the light client's conclusions about its
    │                             providers, e.g. a fork (also a ProofError;
    │                             phrchain.client.errors)
    └── edge errors without a code, each in its own package: ApiError, WalletError,
        RecordsError, PortableError, RpcError (phrchain.client), ChainError, HomeError
        (engines), StateIntegrityError, StateWriteError, BackupError (storage), CliError,
        NotServed

Catch :class:`CodedError` for "refused, with a stable reason"; :class:`TxError` only
where consensus is meant. ``TxError`` codes land in block results and every node must
produce the same one; off-chain codes never do. All are listed in ``docs/errors.md`` and
never renumbered. Checks raise; nothing returns ``False`` for "invalid".

Calling an :class:`ErrorCode` makes the exception of its codespace: a ``vault`` code
makes a :class:`VaultError`, a ``fhir`` code a :class:`FhirError`, a ``trialfile`` code a
:class:`TrialFileError`, a ``lightclient`` code a :class:`LightClientError`, a ``c4gh`` code
a :class:`~phrchain.genome.errors.GenomeError` (their packages bind the codespace with
:func:`bind_codespace`), any other a :class:`TxError`.
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

    def __call__(self, detail: str = "") -> CodedError:
        return _KINDS.get(self.codespace, TxError)(self, detail)


class CodedError(PhrError):
    """A refusal with a stable code: on chain (:class:`TxError`) or off chain."""

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


class TxError(CodedError):
    """A transaction or query refused by the state machine: a consensus code."""


REGISTRY: Final[dict[tuple[str, int], ErrorCode]] = {}
_KINDS: Final[dict[str, type[CodedError]]] = {}


def bind_codespace(codespace: str, kind: type[CodedError]) -> None:
    """Make calling a code of ``codespace`` raise ``kind`` (an off-chain error class).
    Once per codespace, at import time; on-chain codespaces are never bound."""
    if _KINDS.setdefault(codespace, kind) is not kind:
        raise ValueError(f"codespace {codespace!r} is already bound")


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
