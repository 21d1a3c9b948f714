"""The shape every module has, and the context a handler runs in.

A module is a name, a table of message handlers, a table of queries and a genesis
initialiser. Handlers follow validate → change state → emit events, and raise
:class:`~phrchain.core.errors.TxError` to reject (the app then drops every write of the
tx). Modules are wired in one explicit ordered list in ``phrchain.app``.

Three optional faces, which the app finds by ``isinstance`` on the runtime-checkable
protocols below: :class:`EndBlocker` (per-block logic after the block's txs, which may
change the validator set), :class:`RuleSchedule` (which rule version a height runs) and
:class:`VersionedRules` (the handlers a rule version replaces: py-evm's fork classes).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from phrchain.core import encoding, keys
from phrchain.core.state import Overlay, Reader
from phrchain.core.tx import Msg


@dataclass(frozen=True, slots=True)
class Event:
    """A typed event with string attributes (never health data: ids, codes, heights)."""

    type: str
    attributes: tuple[tuple[str, str], ...]

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, "attributes": [list(a) for a in self.attributes]}


@dataclass(slots=True)
class Context:
    """What a message handler sees: the block it runs in, the tx signer, a state buffer."""

    chain_id: str
    height: int
    time_ms: int
    signer: str
    state: Overlay
    events: list[Event] = field(default_factory=list)
    # the app's memo of signatures already verified (None: verify every time)
    signatures: keys.VerifiedSignatures | None = None

    def emit(self, type_: str, **attributes: str | int) -> None:
        self.events.append(Event(type_, tuple((k, str(v)) for k, v in attributes.items())))

    def verify_signature(self, public_key: bytes, signature: bytes, message: bytes) -> None:
        """:func:`keys.verify` of a signature a message carries (raises ``CryptoError``),
        through the app's memo: the same outcome, computed once per signature whether
        it first meets the signature in ``check_tx``, a block or an engine's verifier."""
        if self.signatures is None:
            keys.verify(public_key, signature, message)
        else:
            self.signatures.verify(public_key, signature, message)


@dataclass(frozen=True, slots=True)
class QueryResult:
    """A query answer. ``key`` names the single state key the answer is, when there is one,
    so the app can attach a membership / non-membership proof for it."""

    value: Any
    key: bytes | None = None


Handler = Callable[[Context, Msg], None]
Query = Callable[[Reader, Mapping[str, Any]], QueryResult]


class Module(Protocol):
    name: str

    def handlers(self) -> Mapping[str, Handler]: ...

    def queries(self) -> Mapping[str, Query]: ...

    def init_genesis(self, ctx: Context, section: Any) -> None: ...


@dataclass(frozen=True, slots=True)
class ValidatorUpdate:
    """A consensus validator's new voting power (0 removes it), as CometBFT takes them
    from FinalizeBlock: effective two blocks later (H+2)."""

    pub_key: bytes  # Ed25519, 32 bytes
    power: int


@runtime_checkable
class EndBlocker(Protocol):
    """A module with logic that runs once per block, after the block's txs, in the
    block's state (``ctx.signer`` is empty). It must be a pure function of that state
    and write nothing in a block where nothing is due, so that chains that never use it
    keep their app hashes."""

    def end_block(self, ctx: Context) -> Sequence[ValidatorUpdate]: ...


@runtime_checkable
class RuleSchedule(Protocol):
    """Which rule version executes block ``height``, read from the committed state
    before the block (version 1 until an upgrade takes effect)."""

    def rules_version(self, state: Reader, height: int) -> int: ...


@runtime_checkable
class VersionedRules(Protocol):
    """Handlers that a rule version introduces: ``{version: {msg_type: handler}}``. A
    version's table is version 1's (``handlers()``) with every change up to it applied;
    old versions stay, so blocks below an upgrade replay with the rules they ran."""

    def rule_changes(self) -> Mapping[int, Mapping[str, Handler]]: ...


# (public key, signature, signed bytes) of a signature a message carries, resolved from
# the state, or None when it cannot be now (the handler will then say why)
SignatureJob = Callable[[Reader, str, Msg], "tuple[bytes, bytes, bytes] | None"]


@runtime_checkable
class SignedMessages(Protocol):
    """A module whose messages carry signatures other than the tx's (a prescriber's on a
    prescription): ``{msg_type: job}`` so that an engine can verify them ahead, off its
    state thread, as it does tx signatures. Handlers still verify (through
    :meth:`Context.verify_signature`); a job only lets that find the answer known."""

    def message_signatures(self) -> Mapping[str, SignatureJob]: ...


class Authenticator(Protocol):
    """Resolves a tx signer to the public key that must have signed, and keeps nonces.

    Provided by the identity module; the app calls it before any message runs."""

    def signer_key(self, state: Reader, signer: str, msgs: tuple[Msg, ...]) -> bytes: ...

    def last_nonce(self, state: Reader, signer: str) -> int: ...

    def set_nonce(self, state: Overlay, signer: str, nonce: int) -> None: ...


# The app writes the executing block's height and time here before its txs run, so that
# queries answered "as of height h" (a consent decision) use that block's time.
BLOCK_KEY = b"app/block"


def block_of(state: Reader) -> tuple[int, int]:
    """``(height, time_ms)`` of the last block executed in ``state`` (0, 0 before any)."""
    raw = state.get(BLOCK_KEY)
    if raw is None:
        return 0, 0
    block = encoding.decode(raw)
    return int(block["height"]), int(block["time_ms"])


class StaticModule:
    """A module whose handlers and queries are fixed tables and whose state starts empty
    (records, consent, audit, exchange: a genesis section there would be health data
    or consents in a config file). Subclasses set ``name``, ``HANDLERS`` and ``QUERIES``."""

    name: str = ""
    HANDLERS: Mapping[str, Handler] = {}
    QUERIES: Mapping[str, Query] = {}

    def handlers(self) -> Mapping[str, Handler]:
        return self.HANDLERS

    def queries(self) -> Mapping[str, Query]:
        return self.QUERIES

    def init_genesis(self, ctx: Context, section: Any) -> None:
        if section:
            raise ValueError(f"the {self.name} module takes no genesis state")
