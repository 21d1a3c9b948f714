"""Trust anchors: what a light client checks a proved query answer against.

An *anchor* turns "the node says key K held bytes V at height H, here is a proof" into
"K held V at H" — or a :class:`~phrchain.core.errors.ProofError` — using only what the
caller trusts:

- :class:`SoloAnchor` — the solo engine's validator DID: the header of height H, signed
  by that validator, carries the app hash *after* block H.
- :class:`CometAnchor` — a CometBFT validator set (from its genesis): the commit of
  height H + 1, signed by more than 2/3 of the voting power of the set of that height
  (reached from the genesis set by following validator-set changes), carries the app
  hash after block H (CometBFT headers carry the previous block's app hash).

Code that verifies chain data (the audit log reader, the CLI) takes an anchor and works
the same over either engine.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from phrchain.client.verify import (
    STORE_PATH,
    verify_header,
    verify_query,
    verify_query_against_header,
)
from phrchain.core.errors import CryptoError, ProofError


class Anchor(Protocol):
    def prove_raw(self, answer: Mapping[str, Any], expected_key: bytes) -> str | None:
        """Check a ``prove=true`` answer for ``expected_key``; the proven stored bytes
        (hex), or None when the proof shows the key absent."""

    def time_ms(self, height: int) -> int:
        """The (verified) time of block ``height``, in Unix ms."""


def _as_store(answer: Mapping[str, Any]) -> dict[str, Any]:
    """A module query's value is often a projection of the stored bytes: check the proof
    as the raw key → bytes it is (the ``store`` rule: value = raw hex)."""
    return {**answer, "path": STORE_PATH, "value": answer.get("raw_value")}


class SoloAnchor:
    def __init__(self, node: Any, validator: str, chain_id: str | None = None) -> None:
        self.node, self.validator, self.chain_id = node, validator, chain_id
        self._headers: dict[int, Any] = {}

    def signed_header(self, height: int) -> Any:
        if height not in self._headers:
            signed = self.node.header(height)
            try:
                header = verify_header(signed, self.validator, self.chain_id)
            except (ProofError, CryptoError) as exc:
                raise ProofError(f"header {height}: {exc}") from None
            if header.height != height:
                raise ProofError(f"asked for header {height}, the node sent {header.height}")
            self._headers[height] = (signed, header)
        return self._headers[height][0]

    def prove_raw(self, answer: Mapping[str, Any], expected_key: bytes) -> str | None:
        height = answer.get("height")
        if type(height) is not int or height < 1:
            raise ProofError(f"height {height!r} has no signed header")
        raw: str | None = verify_query_against_header(
            _as_store(answer), self.signed_header(height), self.validator,
            expected_key=expected_key, chain_id=self.chain_id)
        return raw

    def time_ms(self, height: int) -> int:
        self.signed_header(height)
        return int(self._headers[height][1].time_ms)


class CometAnchor:
    """Headers verified from a trusted CometBFT validator set (normally the genesis
    set), following the validator-set changes governance makes
    (``lightclient_skipping.FollowingLightClient``; trust does not expire: the
    genesis holder accepts its set's authority for good). With ``witnesses`` (other
    nodes' RPC), every header is also cross-checked with them and a fork raises
    ``lightclient/1`` (``lightclient_detector.WitnessedLightClient``)."""

    def __init__(self, rpc: Any, validators: Sequence[Any], chain_id: str,
                 wait_s: float = 20.0, genesis_time: str = "1970-01-01T00:00:00Z",
                 witnesses: Sequence[Any] = ()) -> None:
        from phrchain.client.lightclient_skipping import TrustedState, rfc3339_ns

        self.rpc, self.validators, self.chain_id, self.wait_s = rpc, validators, chain_id, wait_s
        self.witnesses = tuple(witnesses)
        self._root = TrustedState(0, rfc3339_ns(genesis_time), b"", tuple(validators))
        self._light: Any = None
        self._headers: dict[int, Any] = {}
        self._commits: dict[int, Any] = {}

    @classmethod
    def from_genesis(cls, rpc: Any, genesis: Mapping[str, Any],
                     witnesses: Sequence[Any] = ()) -> CometAnchor:
        from phrchain.client.lightclient_cometbft import validator_set_from_genesis

        return cls(rpc, validator_set_from_genesis(genesis), str(genesis["chain_id"]),
                   genesis_time=str(genesis.get("genesis_time", "1970-01-01T00:00:00Z")),
                   witnesses=witnesses)

    def commit(self, height: int) -> Any:
        """The signed header of ``height`` (unverified), waiting (bounded) for it and for
        the validator set after it to exist."""
        if height not in self._commits:
            deadline = time.monotonic() + self.wait_s
            while self.rpc.height() < height:
                if time.monotonic() > deadline:
                    raise ProofError(f"no commit of height {height} within {self.wait_s} s")
                time.sleep(0.1)
            self._commits[height] = self.rpc.commit(height)["signed_header"]
        return self._commits[height]

    def header(self, height: int) -> Any:
        """The verified header of ``height`` (``LightHeader``)."""
        from phrchain.client.lightclient_skipping import FollowingLightClient, RpcProvider

        if height not in self._headers:
            self.commit(height)
            if self._light is None or self._light.trusted.height >= height:
                provider = _CachedProvider(self, RpcProvider(self.rpc))
                if self.witnesses:
                    from phrchain.client.lightclient_detector import WitnessedLightClient

                    self._light = WitnessedLightClient(
                        self.chain_id, self._root, provider,
                        [RpcProvider(w) for w in self.witnesses], trusting_period_ns=None)
                else:
                    self._light = FollowingLightClient(self.chain_id, self._root, provider,
                                                       trusting_period_ns=None)
            self._headers[height] = self._light.verify_to(height, time.time_ns())
        return self._headers[height]

    def prove_raw(self, answer: Mapping[str, Any], expected_key: bytes) -> str | None:
        height = answer.get("height")
        if type(height) is not int or height < 1:
            raise ProofError(f"height {height!r} cannot be proven")
        raw: str | None = verify_query(_as_store(answer), self.header(height + 1).app_hash,
                                       expected_key)
        return raw

    def time_ms(self, height: int) -> int:
        from phrchain.client.lightclient_cometbft import parse_time

        seconds, nanos = parse_time(self.header(height).time)
        return seconds * 1000 + nanos // 1_000_000


class _CachedProvider:
    """The anchor's RPC, with its commits cached (and waited for)."""

    def __init__(self, anchor: CometAnchor, rpc: Any) -> None:
        self.anchor, self.rpc = anchor, rpc

    def signed_header(self, height: int) -> Mapping[str, Any]:
        found: Mapping[str, Any] = self.anchor.commit(height)
        return found

    def validators(self, height: int) -> Sequence[Mapping[str, Any]]:
        found: Sequence[Mapping[str, Any]] = self.rpc.validators(height)
        return found
