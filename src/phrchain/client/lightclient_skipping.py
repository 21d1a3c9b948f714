"""A light client that follows validator-set changes (CometBFT's light client: sequential
and skipping verification with bisection, a trust level and a trusting period).

Governance changes the validator set (``modules/governance``: CometBFT applies a change
decided at height H from H+2), so a client that trusts only the genesis set must learn
each later set from the chain itself, never from the node it asks:

- **Trusted state**: a verified header (height, time, hash) and the set that must sign
  the *next* height (its ``next_validators_hash``). The root is the genesis: height 0,
  genesis time, the genesis validators.
- **Sequential** (target = trusted + 1): the target header's ``validators_hash`` is the
  trusted next set's hash, and more than 2/3 of that set signed it.
- **Skipping** (target > trusted + 1): validators of the trusted next set holding more
  than the **trust level** (default 1/3) of its power signed the target commit, and more
  than 2/3 of the target's own set (given by the provider, checked against the header's
  ``validators_hash``) signed it. Needs the trusted header to be within the **trusting
  period** (default two weeks) of ``now``; the target's time must be after the trusted
  one and not beyond ``now`` plus the clock drift.
- **Bisection**: when the trusted set's overlap is too small, verify the midpoint first
  and go on from there (at worst sequentially).
- Each verified header's next set comes from the provider and must hash to its
  ``next_validators_hash``. From the genesis root, header 1 is verified first
  (sequentially), which ties the genesis set to the chain.
- ``trusting_period_ns=None`` never lets trust expire: for a verifier that accepts the
  genesis set's authority for good (the audit anchors), at the cost of CometBFT's
  defence against a fork signed long after by validators that have left.

``now`` is a parameter (nanoseconds since the epoch); nothing here reads a clock. A
header signed by a set the client does not trust, or that equivocates against what it
verified, raises :class:`~phrchain.core.errors.ProofError` (or ``CryptoError``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

from phrchain.client.lightclient_cometbft import (
    LightHeader,
    NotEnoughTrust,
    Validator,
    parse_time,
    validator_set_from_genesis,
    validators_hash,
    verify_commit,
    verify_commit_trusting,
)
from phrchain.client.verify import verify_query
from phrchain.core import keys
from phrchain.core.errors import ProofError

__all__ = ["FollowingLightClient", "Provider", "RpcProvider", "TrustedState",
           "rfc3339_ns", "validator_set_from_rpc"]

NANOS: Final = 1_000_000_000
DEFAULT_TRUSTING_PERIOD_NS: Final = 14 * 24 * 3600 * NANOS
DEFAULT_MAX_CLOCK_DRIFT_NS: Final = 10 * NANOS


class Provider(Protocol):
    """Where headers and validator sets come from (a node's RPC): untrusted."""

    def signed_header(self, height: int) -> Mapping[str, Any]: ...

    def validators(self, height: int) -> Sequence[Mapping[str, Any]]: ...


class RpcProvider:
    """A :class:`Provider` over CometBFT's RPC (``client.cometbft_rpc.CometRpc``)."""

    def __init__(self, rpc: Any) -> None:
        self.rpc = rpc

    def signed_header(self, height: int) -> Mapping[str, Any]:
        found: Mapping[str, Any] = self.rpc.commit(height)["signed_header"]
        return found

    def validators(self, height: int) -> Sequence[Mapping[str, Any]]:
        found: Sequence[Mapping[str, Any]] = self.rpc.validators(height)
        return found


def validator_set_from_rpc(entries: Sequence[Mapping[str, Any]]) -> tuple[Validator, ...]:
    """A set as ``/validators`` renders it, in CometBFT's order (power descending, then
    address); each address must be its key's."""
    validators = []
    for entry in entries:
        pub_key = entry.get("pub_key") if isinstance(entry, Mapping) else None
        if not isinstance(pub_key, Mapping) or pub_key.get("type") != "tendermint/PubKeyEd25519":
            raise ProofError("only Ed25519 validators are supported")
        try:
            public_key = base64.b64decode(str(pub_key.get("value")), validate=True)
            power = int(entry["voting_power"])
            address = bytes.fromhex(str(entry["address"]))
        except (binascii.Error, KeyError, ValueError):
            raise ProofError("a validator entry is malformed") from None
        keys.check_ed25519_public_key(public_key)
        if address != hashlib.sha256(public_key).digest()[:20] or power <= 0:
            raise ProofError(f"validator {address.hex()}: address or power is wrong")
        validators.append(Validator(address, public_key, power))
    if not validators:
        raise ProofError("an empty validator set")
    return tuple(sorted(validators, key=lambda v: (-v.power, v.address)))


def rfc3339_ns(text: Any) -> int:
    """CometBFT's RFC 3339 time as nanoseconds since the epoch."""
    seconds, nanos = parse_time(text)
    return seconds * NANOS + nanos


@dataclass(frozen=True, slots=True)
class TrustedState:
    """What the client has verified: a header and the set that signs the next one."""

    height: int
    time_ns: int
    header_hash: bytes                     # empty at the genesis root
    next_validators: tuple[Validator, ...]

    @classmethod
    def from_genesis(cls, genesis: Mapping[str, Any]) -> TrustedState:
        """The trust root: CometBFT's ``genesis.json`` that the client holds."""
        return cls(0, rfc3339_ns(genesis.get("genesis_time")), b"",
                   validator_set_from_genesis(genesis))


class FollowingLightClient:
    """Verify headers from a trusted state onwards, following validator-set changes."""

    def __init__(self, chain_id: str, trusted: TrustedState, provider: Provider,
                 trust_numerator: int = 1, trust_denominator: int = 3,
                 trusting_period_ns: int | None = DEFAULT_TRUSTING_PERIOD_NS,
                 max_clock_drift_ns: int = DEFAULT_MAX_CLOCK_DRIFT_NS) -> None:
        if not trust_denominator <= 3 * trust_numerator <= 2 * trust_denominator:
            raise ValueError("the trust level must be within [1/3, 2/3]")
        self.chain_id, self.trusted, self.provider = chain_id, trusted, provider
        self.trust = (trust_numerator, trust_denominator)
        self.trusting_period_ns, self.max_clock_drift_ns = trusting_period_ns, max_clock_drift_ns
        self.verified: dict[int, LightHeader] = {}

    def verify_to(self, height: int, now_ns: int) -> LightHeader:
        """The header at ``height`` verified from the trusted state (which then moves to
        it). Heights at or below the trusted one are refused: verify from an older root."""
        if height in self.verified:
            return self.verified[height]
        if height <= self.trusted.height:
            raise ProofError(f"height {height} is not above the trusted {self.trusted.height}")
        # The genesis set is tied to the chain by header 1 (its validators_hash) before
        # any skip: a root of the right keys with the wrong powers is refused there.
        pending = [height] if self.trusted.height > 0 or height == 1 else [height, 1]
        while pending:
            target = pending[-1]
            if self._try(target, now_ns):
                pending.pop()
                continue
            pivot = (self.trusted.height + target) // 2
            if pivot <= self.trusted.height:  # adjacent: _try would have verified or raised
                raise AssertionError("bisection did not progress")
            pending.append(pivot)
        return self.verified[height]

    def verify_query(self, answer: Mapping[str, Any], now_ns: int,
                     expected_key: bytes | None = None) -> Any:
        """A proved query answer at height H, against the verified header of H + 1."""
        height = answer.get("height") if isinstance(answer, Mapping) else None
        if type(height) is not int:
            raise ProofError("the answer names no height")
        header = self.verify_to(height + 1, now_ns)
        return verify_query(answer, header.app_hash, expected_key)

    # -- one step ----------------------------------------------------------------------------
    def _try(self, height: int, now_ns: int) -> bool:
        """Verify ``height`` from the trusted state and advance; False when the trusted
        set's overlap is too small for a skip (bisect), raise when the header is bad."""
        trusted = self.trusted
        if self.trusting_period_ns is not None \
                and trusted.time_ns + self.trusting_period_ns <= now_ns:
            raise ProofError(f"the trusted header at {trusted.height} is older than the "
                             "trusting period: re-establish trust from a newer root")
        signed_header = self.provider.signed_header(height)
        header = signed_header.get("header") if isinstance(signed_header, Mapping) else None
        if not isinstance(header, Mapping):
            raise ProofError("not a signed header")
        own = validator_set_from_rpc(self.provider.validators(height))
        if height == trusted.height + 1:
            if validators_hash(own) != validators_hash(trusted.next_validators):
                raise ProofError(f"header {height} names another validator set than the "
                                 "one the trusted header announced")
        else:
            try:
                verify_commit_trusting(signed_header, trusted.next_validators, self.chain_id,
                                       *self.trust)
            except NotEnoughTrust:
                return False
        light = verify_commit(signed_header, own, self.chain_id)
        self._check_header(header, light, now_ns)
        next_set = validator_set_from_rpc(self.provider.validators(height + 1))
        if validators_hash(next_set) != bytes.fromhex(str(header.get("next_validators_hash"))):
            raise ProofError(f"the validators of {height + 1} are not those header {height} "
                             "announced")
        self.trusted = TrustedState(height, rfc3339_ns(light.time), light.hash, next_set)
        self.verified[height] = light
        return True

    def _check_header(self, header: Mapping[str, Any], light: LightHeader, now_ns: int) -> None:
        time_ns = rfc3339_ns(light.time)
        if time_ns <= self.trusted.time_ns and self.trusted.height > 0:
            raise ProofError(f"header {light.height} is not later than the trusted header")
        if time_ns > now_ns + self.max_clock_drift_ns:
            raise ProofError(f"header {light.height} is from the future")
        if light.height == self.trusted.height + 1 and self.trusted.header_hash:
            last = header.get("last_block_id")
            last_hash = last.get("hash") if isinstance(last, Mapping) else None
            try:
                linked = bytes.fromhex(str(last_hash)) == self.trusted.header_hash
            except ValueError:
                linked = False
            if not linked:
                raise ProofError(f"header {light.height} does not follow the trusted header")

