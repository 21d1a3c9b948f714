"""Governance on a real 4-validator CometBFT v0.38 network: a new institution's node
joins by state sync (a snapshot the others offer), the council adds its key as a 5th
validator by a vote
(a proposal below the threshold changes nothing), CometBFT lists it from H+2 and it
signs blocks; then the council removes another validator. The chain never stops, every
node's app hash agrees, and the light client verifies a query after both changes from
the genesis trust root, following the set changes.

Needs the CometBFT binary (``scripts/cometbft.sh``); without it these tests are skipped.
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from phrchain.client import builder
from phrchain.client.anchors import CometAnchor
from phrchain.client.cometbft_rpc import CometRpc, RpcError
from phrchain.client.lightclient_cometbft import header_hash
from phrchain.client.lightclient_skipping import FollowingLightClient, RpcProvider, TrustedState
from phrchain.client.verify import query_key
from phrchain.client.wallet import KdfParams, Wallet
from phrchain.core.tx import build_tx
from phrchain.engine.abci.net import (
    ConsensusTuning,
    Network,
    default_binary,
    free_ports,
    init_network,
)
from phrchain.modules.governance.actions import AddValidator, RemoveValidator
from phrchain.modules.governance.messages import Propose, Vote

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not default_binary().exists(),
                       reason="no CometBFT binary: run scripts/cometbft.sh (Go >= 1.22)"),
]

CHAIN = "phr-gov-net"
PASSPHRASE = "test passphrase"
TUNING = ConsensusTuning(timeout_propose="1s", timeout_prevote="300ms",
                         timeout_precommit="300ms", timeout_commit="300ms")
CHEAP_KDF = KdfParams(memory_kib=1024, iterations=1)


class Council:
    """The three genesis authorities' wallets, with their next nonces."""

    def __init__(self, home: Path) -> None:
        self.members = [Wallet.load(home / "wallets" / name, PASSPHRASE) for name in
                        ("authority.json", "authority-2.json", "authority-3.json")]
        self.nonces = [0, 0, 0]

    def send(self, rpc: CometRpc, member: int, msgs: list[dict[str, Any]]) -> dict[str, Any]:
        """One tx by ``member``, waited for; its committed result."""
        self.nonces[member] += 1
        wallet = self.members[member]
        raw = build_tx(wallet.signing_key, CHAIN, self.nonces[member], msgs)
        answer = rpc.broadcast_tx_sync(raw)
        assert answer["code"] == 0, answer
        digest = hashlib.sha256(raw).digest()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            found = rpc.tx(digest)
            if found is not None:
                assert found["tx_result"]["code"] == 0, found["tx_result"]
                return found
            time.sleep(0.1)
        raise AssertionError(f"tx {digest.hex()} not committed in 30 s")


def proposal(rpc: CometRpc, pid: int) -> dict[str, Any]:
    value: dict[str, Any] = rpc.abci_query("governance/proposal", {"id": pid})["value"]
    return value


def keys_at(rpc: CometRpc, height: int) -> set[bytes]:
    return {base64.b64decode(v["pub_key"]["value"]) for v in rpc.validators(height)}


def app_hashes(net: Network, height: int) -> set[str]:
    found = set()
    for index in range(len(net.nodes)):
        with net.rpc(index) as rpc:
            found.add(rpc.block(height)["block"]["header"]["app_hash"])
    return found


def _cometbft_light_header_hash(net: Network, height: int) -> bytes:
    """The hash of header ``height`` as ``cometbft light`` verified it: a proxy that
    trusts header 1 of node 0 and cross-checks with nodes 1 and 2 (skipping
    verification, trust level 1/3), whose ``/commit`` answers only verified headers."""
    with net.rpc(0) as rpc:
        trusted = header_hash(rpc.commit(1)["signed_header"]["header"])
    port = free_ports(1)[0]
    with tempfile.TemporaryDirectory() as light_home:
        log = Path(light_home) / "light.log"
        with log.open("ab") as out:
            proxy = subprocess.Popen(
                [net.layout.binary, "light", CHAIN, "-p", net.nodes[0].rpc_url,
                 "-w", f"{net.nodes[1].rpc_url},{net.nodes[2].rpc_url}", "--height", "1",
                 "--hash", trusted.hex().upper(), "--laddr", f"tcp://127.0.0.1:{port}",
                 "--home-dir", light_home],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    with CometRpc(f"http://127.0.0.1:{port}", timeout=10) as rpc:
                        return header_hash(rpc.commit(height)["signed_header"]["header"])
                except RpcError:
                    if time.monotonic() > deadline:
                        raise AssertionError("cometbft light did not answer: "
                                             + log.read_text()[-2000:]) from None
                    time.sleep(0.5)
        finally:
            proxy.terminate()
            proxy.wait(timeout=15)


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    home = tmp_path_factory.mktemp("cometbft-gov")
    network = init_network(home, 4, PASSPHRASE, CHAIN, tuning=TUNING, kdf=CHEAP_KDF,
                           snapshot_interval=20)   # 4 kept: 80 blocks to fetch one
    try:
        network.up(timeout=60)
        yield network
    finally:
        for index in range(len(network.nodes)):
            network.kill_node(index)


def test_the_council_adds_a_fifth_validator_and_removes_one(net: Network) -> None:
    council = Council(net.home)
    genesis_keys = {net.validator_key(i) for i in range(4)}
    pharmacy = Wallet.create("Central Pharmacy")
    with net.rpc(0) as rpc:
        assert keys_at(rpc, rpc.height()) == genesis_keys
        request = builder.join_request(pharmacy, CHAIN, council.members[0].did)
        council.send(rpc, 0, [builder.admit_organization(
            request["did"], "pharmacy", "Central Pharmacy", request["enc_key"],
            request["pop"])])

    # the new institution's node joins by state sync: a snapshot, not every block
    net.wait_height(12, 30)  # snapshots at 5 and 10 exist
    fifth = net.add_node("Central Pharmacy", TUNING, state_sync=True)
    net.start_node(fifth)
    with net.rpc(0) as rpc:
        net.wait_height(rpc.height() + 2, 90, nodes=[fifth])
    with net.rpc(fifth) as rpc:
        with pytest.raises(RpcError, match="query/3"):  # height 1 was never replayed here
            rpc.abci_query("identity/did", {"did": pharmacy.did}, height=1)
        assert rpc.abci_query("identity/did", {"did": pharmacy.did})["value"]["did"] \
            == pharmacy.did
    new_key = net.validator_key(fifth)

    with net.rpc(1) as rpc:
        # the proposer's own vote is below the threshold (2 of 3): nothing happens
        proposed = council.send(rpc, 0, [Propose(AddValidator(new_key, 10,
                                                                pharmacy.did)).to_msg()])
        net.wait_height(int(proposed["height"]) + 3, 20)
        assert proposal(rpc, 1)["status"] == "open"
        assert keys_at(rpc, rpc.height()) == genesis_keys

        voted = council.send(rpc, 1, [Vote(1, "yes").to_msg()])
        height = int(voted["height"])
        assert proposal(rpc, 1)["status"] == "executed"
        assert proposal(rpc, 1)["closed_at"] == height
        updates = json.dumps(rpc.block_results(height)["validator_updates"])
        assert base64.b64encode(new_key).decode() in updates
        net.wait_height(height + 3, 30)
        assert keys_at(rpc, height + 1) == genesis_keys        # CometBFT: effective at H+2
        assert keys_at(rpc, height + 2) == genesis_keys | {new_key}

    # the fifth validator signs: its address is in a later commit's signatures
    address = hashlib.sha256(new_key).digest()[:20].hex().upper()
    with net.rpc(fifth) as rpc:
        net.wait_height(height + 6, 30)
        signers = {s["validator_address"] for s in
                   rpc.commit(height + 5)["signed_header"]["commit"]["signatures"]}
        assert address in signers

    # remove the clinic's validator (node 3): proposed by member 3, passed by member 1
    removed = net.validator_key(3)
    with net.rpc(2) as rpc:
        council.send(rpc, 2, [Propose(RemoveValidator(removed)).to_msg()])
        voted = council.send(rpc, 0, [Vote(2, "yes").to_msg()])
        height = int(voted["height"])
        assert proposal(rpc, 2)["status"] == "executed"
        net.wait_height(height + 4, 30)
        assert keys_at(rpc, height + 2) == (genesis_keys | {new_key}) - {removed}

    # the chain goes on and every node (the removed validator's too) agrees
    net.wait_height(height + 6, 30)
    assert len(app_hashes(net, height + 5)) == 1

    # the light client verifies a query after both changes from the genesis trust root
    final = (genesis_keys | {new_key}) - {removed}
    asked = {"did": pharmacy.did}
    with net.rpc(fifth) as rpc:  # the answer from the state-synced node
        answer = rpc.abci_query("identity/did", asked, height=height + 4, prove=True)
    with net.rpc(1) as rpc:  # headers from one that has them all (the other has no block 1)
        light = FollowingLightClient(CHAIN, TrustedState.from_genesis(net.genesis()),
                                     RpcProvider(rpc))
        value = light.verify_query(answer, time.time_ns(), query_key("identity/did", asked))
    assert value["did"] == pharmacy.did and value["org_type"] == "pharmacy"
    assert {v.public_key for v in light.trusted.next_validators} == final
    # CometBFT's own light client (a proxy trusting header 1, skipping verification,
    # two witnesses) returns the same verified header after both changes
    assert _cometbft_light_header_hash(net, height + 5) == light.verified[height + 5].hash
    # the audit/CLI trust anchor follows the same way (it verified header 1 first)
    with net.rpc(0) as rpc:
        anchor = CometAnchor.from_genesis(rpc, net.genesis())
        assert anchor.header(height + 5).app_hash == light.verified[height + 5].app_hash
        assert anchor.header(3).height == 3  # an older height: verified again from genesis


def test_bundles_carry_each_institution_and_one_runs_as_its_node(net: Network,
                                                                  tmp_path: Path) -> None:
    import os
    import sys

    from phrchain.engine.abci.bundles import write_bundles

    # addresses of other machines: peers by address, P2P on every interface
    hosts = {"node0": "10.0.0.10", "node1": "hospital.example"}
    bundles = write_bundles(net, tmp_path / "bundles", hosts)
    assert [b.name for b in bundles] == [n.name for n in net.nodes]
    first = bundles[1]
    meta = json.loads((first / "bundle.json").read_text())
    assert meta["address"] == "hospital.example" and meta["institution"] == "Mutual Insurance"
    assert f"{net.nodes[0].node_id}@10.0.0.10:{net.nodes[0].p2p_port}" in meta["peers"]
    assert f"{net.nodes[2].node_id}@127.0.0.1:{net.nodes[2].p2p_port}" in meta["peers"]
    config = (first / "cometbft" / "config" / "config.toml").read_text()
    assert f'laddr = "tcp://0.0.0.0:{net.nodes[1].p2p_port}"' in config
    assert f'external_address = "hospital.example:{net.nodes[1].p2p_port}"' in config
    assert (first / "genesis.json").read_text() == (net.home / "genesis.json").read_text()
    assert os.listdir(first / "wallets") == ["insurer.json"]  # its own wallet, nobody else's
    key = first / "cometbft" / "config" / "priv_validator_key.json"
    assert key.stat().st_mode & 0o777 == 0o600
    assert key.read_text() == (net.node_dir(1) / "cometbft" / "config" /
                               "priv_validator_key.json").read_text()

    # the loopback bundle that net init wrote for node 3 (a full node since its removal)
    # replaces it: started from the bundle alone, it replays and agrees with the others
    bundle = net.home / "bundles" / "node3"
    assert (bundle / "START.md").exists()
    net.stop_node(3)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(Path(__file__).resolve().parents[2] / "src"), env.get("PYTHONPATH", "")])
    logs = tmp_path / "bundle-logs"
    logs.mkdir()
    port = json.loads((bundle / "bundle.json").read_text())["abci_port"]
    procs = []
    try:
        with (logs / "app.log").open("ab") as log:
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "phrchain.engine.abci", "--home", str(bundle / "app"),
                 "--port", str(port)], stdout=log, stderr=subprocess.STDOUT, env=env))
        time.sleep(2)
        with (logs / "cometbft.log").open("ab") as log:
            procs.append(subprocess.Popen(
                [net.layout.binary, "start", "--home", str(bundle / "cometbft")],
                stdout=log, stderr=subprocess.STDOUT, env=env))
        with net.rpc(0) as rpc:
            target = rpc.height() + 2
        net.wait_height(target, 90, nodes=[3])
        agreed = app_hashes(net, target - 1)
        assert len(agreed) == 1
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
