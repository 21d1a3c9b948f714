"""Proofs over the shared network: the light client verifies live answers and detects
a fork signed with the validators' real keys; the audit log verifies against CometBFT
commits."""

from __future__ import annotations

import hashlib
import secrets
import time

import pytest

from phrchain.client.lightclient_cometbft import (
    validator_set_from_genesis,
    verify_query_cometbft,
)
from phrchain.client.verify import query_key
from phrchain.core.tx import build_tx
from phrchain.engine.abci.net import Network
from phrchain.modules.records.messages import size_bucket
from tests.integration.cometbft_network.network import CHAIN, MARKS, patient_tx, wait_committed

pytestmark = MARKS


def test_light_client_verifies_live_answers(net: Network) -> None:
    raw, did = patient_tx()
    with net.rpc(1) as rpc:
        assert rpc.broadcast_tx_sync(raw)["code"] == 0
        height = int(wait_committed(rpc, raw)["height"])
    net.wait_height(height + 1, 20)
    validators = validator_set_from_genesis(net.genesis())
    expected_key = query_key("identity/did", {"did": did})
    for index in range(4):  # any node's answer, proven by any node's commit
        with net.rpc(index) as rpc:
            answer = rpc.abci_query("identity/did", {"did": did}, height=height, prove=True)
        with net.rpc((index + 1) % 4) as rpc:
            signed_header = rpc.commit(height + 1)["signed_header"]
        value = verify_query_cometbft(answer, signed_header, validators, CHAIN,
                                      expected_key=expected_key)
        assert value["did"] == did and value["kind"] == "patient"


def test_light_client_detects_a_fork_signed_with_the_validators_real_keys(
        net: Network) -> None:
    """A witness serving a header with invented state, signed by three of the four
    validators' real consensus keys (a lunatic attack), is a fork; an honest one is not."""
    from phrchain.client.lightclient_detector import ForkDetected, WitnessedLightClient
    from phrchain.client.lightclient_skipping import RpcProvider, TrustedState
    from tests.forgery import ForgingProvider, cometbft_key, conflicting

    root, now = TrustedState.from_genesis(net.genesis()), time.time_ns()
    with net.rpc(0) as primary, net.rpc(1) as other, net.rpc(2) as honest:
        height = primary.height() - 1
        light = WitnessedLightClient(CHAIN, root, RpcProvider(primary), [RpcProvider(honest)])
        assert light.verify_to(height, now).hash.hex().upper() == \
            primary.commit(height)["signed_header"]["commit"]["block_id"]["hash"]
        forged = conflicting(RpcProvider(other).signed_header(height), {"app_hash": "66" * 32},
                             [cometbft_key(net, i) for i in (0, 1, 3)], CHAIN)
        witness = ForgingProvider(RpcProvider(other), {height: forged})
        light = WitnessedLightClient(CHAIN, root, RpcProvider(primary),
                                     [RpcProvider(honest), witness])
        with pytest.raises(ForkDetected, match="lunatic") as caught:
            light.verify_to(height, now)
    evidence = caught.value.evidence
    assert evidence.witness == forged and evidence.witness_index == 1
    assert evidence.primary["header"]["app_hash"] != "66" * 32
    assert len(evidence.double_signers) == 3


def test_audit_log_verifies_against_cometbft_commits(net: Network) -> None:
    """The audit log reader of the SDK and CLI works over CometBFT: every entry proven
    included, every head proven by a > 2/3 commit of the genesis validator set, and the
    heads consistent; a different validator set is refused."""
    from phrchain.client.anchors import CometAnchor
    from phrchain.client.audit import AuditReader
    from phrchain.client.lightclient_cometbft import Validator
    from phrchain.client.wallet import Wallet
    from phrchain.core.errors import ProofError
    from phrchain.engine.abci.remote import CometNode
    from tests.audit_entries import sealed
    from tests.world import sealed_size

    hospital = Wallet.load(net.home / "wallets" / "hospital.json", "test passphrase")
    patient_raw, patient = patient_tx()
    record = secrets.token_hex(16)
    size = sealed_size(300)[0]
    with net.rpc(0) as rpc:
        assert rpc.broadcast_tx_sync(patient_raw)["code"] == 0
        wait_committed(rpc, patient_raw)
        nonce = rpc.abci_query("identity/nonce", {"did": hospital.did})["value"]["last_nonce"]
        txs = [build_tx(hospital.signing_key, CHAIN, nonce + 1, [{
            "type": "records/register", "record": record, "patient": patient,
            "hash": secrets.token_hex(32), "size": size_bucket(size),
            "commitment": secrets.token_hex(32), "descriptor": secrets.token_hex(32)}])]
        for i in range(2):  # two audit batches, in separate blocks
            entries = [sealed(patient, hospital.did, record, hospital.did, reason="owner")
                       for _ in range(i + 1)]
            txs.append(build_tx(hospital.signing_key, CHAIN, nonce + 2 + i,
                                [{"type": "audit/append", "entries": entries}]))
        found_at = []
        for raw in txs:
            assert rpc.broadcast_tx_sync(raw)["code"] == 0, raw
            found = wait_committed(rpc, raw)
            assert found["tx_result"].get("code", 0) == 0, found
            found_at.append((int(found["height"]), hashlib.sha256(raw).hexdigest()))
    node = CometNode(net.nodes[1].rpc_url)
    try:
        # block results (with events) are served over CometBFT too: a vault follows
        # erasures through them
        for height, tx_hash in found_at:
            results = node.block_results(height)
            assert results is not None and tx_hash in [r["hash"] for r in results]
            assert all(r["code"] == 0 and r["events"] for r in results)
        assert node.block_results(10**9) is None
        with net.rpc(2) as rpc:
            anchor = CometAnchor.from_genesis(rpc, net.genesis())
            reader = AuditReader(node, patient, anchor)
            latest, heads, blocks = reader.verify_all()
            assert latest.size == 3 and len(blocks) == 2 and len(heads) >= 2
            log = AuditReader(node, patient, anchor).log()
            assert [e["index"] for e in log] == [0, 1, 2] and all(e["verified"] for e in log)
            assert all(e["sealed"] for e in log)  # proven without any key to open them
            impostors = [Validator(v.address, v.public_key, v.power * 2)
                         for v in anchor.validators]
            with pytest.raises(ProofError):
                AuditReader(node, patient, CometAnchor(rpc, impostors, CHAIN)).log()
    finally:
        node.close()
