"""The light client that follows validator-set changes, on a synthetic CometBFT chain
whose headers and commits are built and signed here with CometBFT's byte layouts
(``lightclient_cometbft``; those layouts are checked against a genuine commit in
``test_cometbft_light.py`` and against live nodes in the CometBFT network tests)."""

from __future__ import annotations

import base64
import copy
import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from phrchain.client.lightclient_cometbft import (
    Validator,
    header_hash,
    validators_hash,
    vote_sign_bytes,
)
from phrchain.client.lightclient_skipping import FollowingLightClient, TrustedState
from phrchain.core import keys
from phrchain.core.errors import CryptoError, ProofError

CHAIN = "phr-light"
NANOS = 1_000_000_000
GENESIS_S = 1_700_000_000
KEYS = {name: keys.SigningKey(bytes([i + 1]) * 32) for i, name in enumerate("ABCDEFGH")}


def entry(name: str, power: int = 10) -> dict[str, Any]:
    public = KEYS[name].public_key
    return {"address": hashlib.sha256(public).digest()[:20].hex().upper(),
            "pub_key": {"type": "tendermint/PubKeyEd25519",
                        "value": base64.b64encode(public).decode()},
            "voting_power": str(power), "power": str(power)}


def as_set(names: str) -> tuple[Validator, ...]:
    vals = [Validator(hashlib.sha256(KEYS[n].public_key).digest()[:20], KEYS[n].public_key, 10)
            for n in names]
    return tuple(sorted(vals, key=lambda v: (-v.power, v.address)))


def rfc3339(seconds: int) -> str:
    import datetime as dt
    t = dt.datetime.fromtimestamp(seconds, dt.UTC)
    return t.strftime("%Y-%m-%dT%H:%M:%S") + ".250000000Z"


class FakeChain:
    """Heights 1..N; ``sets[h]`` signs height h (a string of validator names)."""

    def __init__(self, sets: Mapping[int, str]) -> None:
        self.sets = dict(sets)
        self.headers: dict[int, dict[str, Any]] = {}
        previous = ""
        for height in sorted(sets)[:-1]:  # the last entry only announces the next set
            header = self._header(height, previous)
            self.headers[height] = self.sign(header, self.sets[height])
            previous = header_hash(header).hex().upper()

    def _header(self, height: int, previous: str, names: str | None = None) -> dict[str, Any]:
        names = names or self.sets[height]
        return {"version": {"block": "11", "app": "1"}, "chain_id": CHAIN,
                "height": str(height), "time": rfc3339(GENESIS_S + 10 * height),
                "last_block_id": {"hash": previous, "parts": {"total": 1 if previous else 0,
                                                              "hash": previous}},
                "last_commit_hash": "", "data_hash": "",
                "validators_hash": validators_hash(as_set(names)).hex().upper(),
                "next_validators_hash": validators_hash(
                    as_set(self.sets[height + 1])).hex().upper(),
                "consensus_hash": "AA" * 32, "app_hash": f"{height:064X}",
                "last_results_hash": "", "evidence_hash": "",
                "proposer_address": entry(names[0])["address"]}

    @staticmethod
    def sign(header: dict[str, Any], signers: str) -> dict[str, Any]:
        block_hash = header_hash(header)
        block_id = {"hash": block_hash.hex().upper(), "parts": {"total": 1, "hash": "BB" * 32}}
        height, time = int(header["height"]), header["time"]
        from phrchain.client.lightclient_cometbft import parse_time
        message = vote_sign_bytes(CHAIN, height, 0, (block_hash, 1, b"\xbb" * 32),
                                  *parse_time(time))
        signatures = [{"block_id_flag": 2, "validator_address": entry(n)["address"],
                       "timestamp": time,
                       "signature": base64.b64encode(KEYS[n].sign(message)).decode()}
                      for n in signers]
        return {"header": header, "commit": {"height": str(height), "round": 0,
                                             "block_id": block_id, "signatures": signatures}}

    def genesis(self) -> dict[str, Any]:
        return {"genesis_time": rfc3339(GENESIS_S),
                "validators": [entry(n) for n in self.sets[1]]}


class Provider:
    """Serves the chain, with forged headers or sets where a test puts them."""

    def __init__(self, chain: FakeChain) -> None:
        self.chain = chain
        self.forged_headers: dict[int, dict[str, Any]] = {}
        self.forged_sets: dict[int, str] = {}
        self.asked: list[int] = []

    def signed_header(self, height: int) -> Mapping[str, Any]:
        self.asked.append(height)
        return self.forged_headers.get(height) or self.chain.headers[height]

    def validators(self, height: int) -> Sequence[Mapping[str, Any]]:
        return [entry(n) for n in self.forged_sets.get(height, self.chain.sets[height])]


# A rotation in three steps: A-D, then C-F (A and B removed), then E-H.
ROTATION = {h: "ABCD" if h <= 5 else "CDEF" if h <= 10 else "EFGH" for h in range(1, 17)}
NOW = (GENESIS_S + 1000) * NANOS


def client(provider: Provider, trusted: TrustedState | None = None, **kw: Any
           ) -> FollowingLightClient:
    root = trusted or TrustedState.from_genesis(provider.chain.genesis())
    return FollowingLightClient(CHAIN, root, provider, **kw)


def test_sequential_then_skipping_across_two_set_changes_with_bisection() -> None:
    provider = Provider(FakeChain(ROTATION))
    light = client(provider)
    assert light.verify_to(1, NOW).app_hash == (1).to_bytes(32, "big")
    assert light.verify_to(2, NOW).height == 2
    header = light.verify_to(13, NOW)  # A-D hold none of E-H: bisect through C-F
    assert header.app_hash == (13).to_bytes(32, "big")
    assert light.trusted.height == 13
    assert light.trusted.next_validators == as_set("EFGH")
    assert any(2 < h < 13 for h in light.verified)  # a midpoint was verified first


@pytest.mark.parametrize(("forged_set", "refusal"), [
    (False, "another validator set"),      # the provider serves the real set of 13
    (True, "not those header 12 announced"),  # ... or the forgers' set: 12 says otherwise
])
def test_a_header_forged_by_a_removed_set_is_refused(forged_set: bool, refusal: str) -> None:
    chain = FakeChain(ROTATION)
    provider = Provider(chain)
    light = client(provider)
    light.verify_to(11, NOW)  # trusts E-H now
    forged = copy.deepcopy(chain.headers[13]["header"])
    forged["validators_hash"] = validators_hash(as_set("ABCD")).hex().upper()
    forged["app_hash"] = "EE" * 32
    provider.forged_headers[13] = FakeChain.sign(forged, "ABCD")
    if forged_set:
        provider.forged_sets[13] = "ABCD"
    with pytest.raises(ProofError, match=refusal):
        light.verify_to(13, NOW)  # no trust to skip to it: bisects via 12, then refused
    assert 13 not in light.verified
    assert light.trusted.next_validators == as_set("EFGH")  # trust never moved to the forgers


def test_an_old_root_outside_the_trusting_period_is_refused() -> None:
    provider = Provider(FakeChain(ROTATION))
    light = client(provider, trusting_period_ns=500 * NANOS)
    with pytest.raises(ProofError, match="trusting period"):
        light.verify_to(13, NOW)


def test_lies_about_the_next_set_and_thin_commits_are_refused() -> None:
    chain = FakeChain(ROTATION)
    provider = Provider(chain)
    provider.forged_sets[6] = "CDEG"  # not what header 5 announced
    with pytest.raises(ProofError, match="announced"):
        client(provider).verify_to(5, NOW)
    provider = Provider(chain)
    thin = copy.deepcopy(chain.headers[3])
    thin["commit"]["signatures"] = thin["commit"]["signatures"][:2]  # 20 of 40
    provider.forged_headers[3] = thin
    with pytest.raises(ProofError, match="not more than 2/3"):
        client(provider).verify_to(3, NOW)
    provider = Provider(chain)
    bad = copy.deepcopy(chain.headers[4])
    bad["commit"]["signatures"][0]["signature"] = base64.b64encode(b"\x01" * 64).decode()
    provider.forged_headers[4] = bad
    with pytest.raises(CryptoError):
        client(provider).verify_to(4, NOW)


def test_a_header_from_the_future_or_below_the_root_is_refused() -> None:
    provider = Provider(FakeChain(ROTATION))
    with pytest.raises(ProofError, match="future"):
        client(provider).verify_to(3, (GENESIS_S + 5) * NANOS)
    light = client(provider)
    light.verify_to(4, NOW)
    with pytest.raises(ProofError, match="not above"):
        light.verify_to(3, NOW)


def test_a_genesis_root_with_other_powers_is_refused_at_header_one() -> None:
    provider = Provider(FakeChain(ROTATION))
    genesis = provider.chain.genesis()
    for validator in genesis["validators"]:
        validator["power"] = "20"  # the right keys, the wrong powers
    light = FollowingLightClient(CHAIN, TrustedState.from_genesis(genesis), provider)
    with pytest.raises(ProofError, match="another validator set"):
        light.verify_to(13, NOW)  # a skip alone would have trusted A-D's signatures
    assert provider.asked[0] == 1 and light.verified == {}


def test_trust_that_never_expires_is_an_explicit_choice() -> None:
    provider = Provider(FakeChain(ROTATION))
    light = client(provider, trusting_period_ns=None)
    assert light.verify_to(13, 10**6 * NOW).height == 13
