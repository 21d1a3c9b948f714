"""``phrchain net`` end to end (2 validators), and the REST API + SDK in front of a
validator's CometBFT RPC: the same client code as for the solo engine."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from phrchain.api.server import BackgroundServer, create_app
from phrchain.client import ApiError, NodeClient, Wallet, builder
from phrchain.client.lightclient_cometbft import (
    validator_set_from_genesis,
    verify_query_cometbft,
)
from phrchain.client.verify import query_key
from phrchain.core import keys
from phrchain.core.tx import build_tx
from phrchain.engine.abci.net import Network, default_binary
from phrchain.engine.abci.remote import CometNode
from tests.processes import free_port

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not default_binary().exists(),
                       reason="no CometBFT binary: run scripts/cometbft.sh (Go >= 1.22)"),
]
PASSPHRASE = "a test passphrase"


def phrchain(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(Path(__file__).parents[2] / "src"), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-m", "phrchain", *args], capture_output=True,
                          text=True, timeout=timeout, env=env, check=False)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("cli-net")
    (root / "pass").write_text(PASSPHRASE + "\n")
    net_home = root / "net"
    done = phrchain("net", "init", "--validators", "2", "--home", str(net_home),
                    "--passphrase-file", str(root / "pass"), "--timeout-commit", "300ms")
    assert done.returncode == 0, done.stderr
    try:
        done = phrchain("net", "up", "--home", str(net_home))
        assert done.returncode == 0, done.stderr
        yield net_home
    finally:
        network = Network(net_home)
        for index in range(len(network.nodes)):
            network.kill_node(index)


def test_net_status_reports_height_app_hash_and_peers(home: Path) -> None:
    Network(home).wait_height(2, 30)
    done = phrchain("net", "status", "--home", str(home), "--json")
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert [r["node"] for r in rows] == ["node0", "node1"]
    assert all(r["height"] >= 2 and r["peers"] == 1 and len(r["app_hash"]) == 64
               for r in rows)
    assert rows[0]["peer_names"] == ["node1"]
    text = phrchain("net", "status", "--home", str(home)).stdout
    assert "General Hospital" in text and "Mutual Insurance" in text


def test_api_and_sdk_over_a_validator(home: Path) -> None:
    net = Network(home)
    hospital = Wallet.load(home / "wallets" / "hospital.json", PASSPHRASE)
    patient, doctor = Wallet.create("patient"), Wallet.create("doctor")
    node = CometNode(net.nodes[1].rpc_url)
    try:
        proved, height = _use_api(node, hospital, patient, doctor)
    finally:
        node.close()
    # What the API served is provable against the validators' signatures.
    net.wait_height(height + 1, 20)
    with net.rpc(0) as rpc:
        signed_header = rpc.commit(height + 1)["signed_header"]
    value = verify_query_cometbft(proved, signed_header, validator_set_from_genesis(
        net.genesis()), "phr-net", expected_key=query_key("identity/did", {"did": doctor.did}))
    assert value["did"] == doctor.did


def _use_api(node: CometNode, hospital: Wallet, patient: Wallet,
             doctor: Wallet) -> tuple[dict[str, Any], int]:
    app = create_app(node)  # type: ignore[arg-type]  # CometNode duck-types SoloNode
    with BackgroundServer(app) as url, NodeClient(url) as client:
        assert client.chain_id() == "phr-net"
        answer = client.send(patient, [builder.register_patient(patient.enc_key)])
        assert answer["status"] == "committed" and answer["result"]["code"] == 0
        request = builder.join_request(doctor, "phr-net", hospital.did)
        answer = client.send(hospital, [builder.admit_practitioner(
            doctor.did, ["physician"], doctor.enc_key, request["pop"])])
        assert answer["result"]["code"] == 0
        assert any(e["type"].startswith("identity.") for e in answer["result"]["events"])
        proved = client.identity(doctor.did)
        assert proved["value"]["kind"] == "practitioner"
        bad = build_tx(keys.SigningKey(bytes(32)), "phr-other", 1,
                       [builder.register_patient(patient.enc_key)])
        with pytest.raises(ApiError) as refused:
            client.submit(bad)
        assert (refused.value.status, refused.value.codespace, refused.value.code) == \
            (422, "tx", 4)  # wrong_chain_id, refused by CheckTx
        status = client.status()
        assert status["height"] >= answer["height"]
        with pytest.raises(ApiError, match="lightclient_cometbft") as no_header:
            client.header()
        assert no_header.value.status == 404
    return proved, proved["height"]


def test_event_stream_of_the_remote_node(home: Path) -> None:
    node = CometNode(Network(home).nodes[0].rpc_url)
    subscription = node.subscribe()
    try:
        item: dict[str, Any] = subscription.get(timeout=20)
        assert item["kind"] == "block" and item["height"] >= 1
    except queue.Empty:
        pytest.fail("no block event in 20 s")
    finally:
        node.unsubscribe(subscription)
        node.close()


def test_identity_show_verifies_against_cometbft_commits(home: Path, tmp_path: Path) -> None:
    """``phrchain identity show --cometbft-rpc``: the API's answer at H is checked
    against the commit of H + 1 by > 2/3 of the genesis validator set; another set is
    refused (exit 2)."""
    net = Network(home)
    hospital = Wallet.load(home / "wallets" / "hospital.json", PASSPHRASE)
    genesis = home / "genesis.json"
    forged = json.loads(genesis.read_text())
    for v in forged["validators"]:
        v["power"] = str(int(v["power"]) * 3)  # another set: its hash differs
    forged_file = tmp_path / "forged-genesis.json"
    forged_file.write_text(json.dumps(forged))
    node = CometNode(net.nodes[0].rpc_url)
    try:
        with BackgroundServer(create_app(node)) as url:  # type: ignore[arg-type]
            ok = phrchain("identity", "show", hospital.did, "--node", url, "--cometbft-rpc",
                          net.nodes[1].rpc_url, "--genesis", str(genesis))
            assert ok.returncode == 0, ok.stderr
            shown = json.loads(ok.stdout)
            assert shown["identity"]["did"] == hospital.did and shown["proof"]["verified"]
            assert "more than 2/3" in shown["proof"]["verified_against"]
            bad = phrchain("identity", "show", hospital.did, "--node", url, "--cometbft-rpc",
                           net.nodes[1].rpc_url, "--genesis", str(forged_file))
            assert bad.returncode == 2 and "validator set" in bad.stderr, bad.stderr
            # cross-checked with a witness (the other node); with only an unreachable
            # one, nothing confirms the header: lightclient/2, exit 2
            witnessed = phrchain("identity", "show", hospital.did, "--node", url,
                                 "--cometbft-rpc", net.nodes[1].rpc_url, "--genesis",
                                 str(genesis), "--witness", net.nodes[0].rpc_url)
            assert witnessed.returncode == 0, witnessed.stderr
            assert "1 witness" in json.loads(witnessed.stdout)["proof"]["verified_against"]
            alone = phrchain("identity", "show", hospital.did, "--node", url,
                             "--cometbft-rpc", net.nodes[1].rpc_url, "--genesis",
                             str(genesis), "--witness", f"http://127.0.0.1:{free_port()}")
            assert alone.returncode == 2 and "lightclient/2" in alone.stderr, alone.stderr
    finally:
        node.close()


def test_net_down_stops_every_process(home: Path) -> None:
    done = phrchain("net", "down", "--home", str(home))
    assert done.returncode == 0, done.stderr
    net = Network(home)
    assert not any(net.is_running(i) for i in range(len(net.nodes)))
    rows = json.loads(phrchain("net", "status", "--home", str(home), "--json").stdout)
    assert all("error" in r and not r["running"] for r in rows)
