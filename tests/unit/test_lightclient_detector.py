"""Fork detection between a primary and witnesses, on the synthetic CometBFT chain of
``test_lightclient_skipping.py`` (real Ed25519 signatures in CometBFT's layouts): a
double sign and a lunatic header signed by the trusted validators' keys raise
``lightclient/1`` with both headers; an honest witness raises nothing; a witness whose
conflicting header does not verify is dropped; with no witness confirming, ``lightclient/2``.
The same against a live CometBFT network with its validators' real keys:
``tests/integration/cometbft_network/``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from phrchain.client.errors import LightClientError
from phrchain.client.lightclient_cometbft import header_hash
from phrchain.client.lightclient_detector import ForkDetected, WitnessedLightClient
from phrchain.client.lightclient_skipping import TrustedState
from phrchain.core.errors import CodedError, ProofError, TxError
from tests.forgery import ForgingProvider, conflicting
from tests.unit.test_lightclient_skipping import CHAIN, KEYS, NOW, ROTATION, FakeChain, Provider


def light(chain: FakeChain, *witnesses: Any) -> WitnessedLightClient:
    return WitnessedLightClient(CHAIN, TrustedState.from_genesis(chain.genesis()),
                                Provider(chain), witnesses)


def signers(names: str) -> list[Any]:
    return [KEYS[n] for n in names]


class Unreachable:
    def signed_header(self, height: int) -> Mapping[str, Any]:
        raise OSError("connection refused")

    def validators(self, height: int) -> Sequence[Mapping[str, Any]]:
        raise OSError("connection refused")


def test_an_honest_witness_raises_no_alarm() -> None:
    chain = FakeChain(ROTATION)
    client = light(chain, Provider(chain), Unreachable())
    assert client.verify_to(12, NOW).app_hash == (12).to_bytes(32, "big")
    assert client.verify_to(15, NOW).height == 15
    assert client.faulty == []


def test_a_double_sign_by_the_validators_is_a_fork_with_both_headers() -> None:
    chain = FakeChain(ROTATION)
    # Validators C-F (the set of height 8) sign a second block at 8: other txs.
    forged = conflicting(chain.headers[8], {"data_hash": "CC" * 32}, signers("CDEF"), CHAIN)
    client = light(chain, ForgingProvider(Provider(chain), {8: forged}))
    with pytest.raises(ForkDetected) as caught:
        client.verify_to(8, NOW)
    evidence = caught.value.evidence
    assert (evidence.height, evidence.common_height, evidence.attack) == (8, 0, "equivocation")
    assert evidence.primary == chain.headers[8] and evidence.witness == forged
    assert header_hash(evidence.primary["header"]) != header_hash(evidence.witness["header"])
    assert len(evidence.double_signers) == 4
    assert set(evidence.to_json()) >= {"primary", "witness", "double_signers", "attack"}
    err = caught.value
    assert isinstance(err, LightClientError) and isinstance(err, ProofError)
    assert isinstance(err, CodedError) and not isinstance(err, TxError)
    assert (err.codespace, err.code, err.error.name) == ("lightclient", 1,
                                                         "conflicting_headers")
    assert header_hash(forged["header"]).hex() in str(err)
    # Nothing verified since the common root stays trusted.
    assert client.trusted.height == 0 and 8 not in client.verified


def test_a_lunatic_header_is_a_fork() -> None:
    chain = FakeChain(ROTATION)
    # The set of height 12 (E-H) signs a header with state it invented.
    forged = conflicting(chain.headers[12], {"app_hash": "66" * 32}, signers("EFGH"), CHAIN)
    client = light(chain, Provider(chain), ForgingProvider(Provider(chain), {12: forged}))
    with pytest.raises(ForkDetected, match="lunatic") as caught:
        client.verify_to(12, NOW)
    assert caught.value.evidence.witness_index == 1
    assert caught.value.evidence.witness["header"]["app_hash"] == "66" * 32


def test_a_witness_with_an_unverifiable_header_is_dropped_not_an_alarm() -> None:
    chain = FakeChain(ROTATION)
    # A and B left the set at height 6: their signatures on a header at 12 prove nothing.
    forged = conflicting(chain.headers[12], {"app_hash": "66" * 32}, signers("AB"), CHAIN)
    client = light(chain, ForgingProvider(Provider(chain), {12: forged}), Provider(chain))
    assert client.verify_to(12, NOW).app_hash == (12).to_bytes(32, "big")
    assert [index for index, _ in client.faulty] == [0]
    assert client.witnesses[0] is None


def test_no_witness_confirming_is_refused() -> None:
    chain = FakeChain(ROTATION)
    forged = conflicting(chain.headers[12], {"app_hash": "66" * 32}, signers("AB"), CHAIN)
    client = light(chain, Unreachable(), ForgingProvider(Provider(chain), {12: forged}))
    with pytest.raises(LightClientError) as caught:
        client.verify_to(12, NOW)
    assert (caught.value.codespace, caught.value.code) == ("lightclient", 2)
    assert client.trusted.height == 0
    with pytest.raises(ValueError):
        light(chain)
