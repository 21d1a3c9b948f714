"""The regulator's proof file on a real CometBFT network (one validator, issue 16):
exported with the network's signed headers and commits, verified offline by the light
client from the genesis validator set the reader trusts; another set, a solo DID, a
tampered entry and a flipped byte anywhere are refused. Bounded: every wait has a
timeout, and the fixture stops every process it started."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from phrchain.api.server import BackgroundServer, create_app
from phrchain.cli.main import main
from phrchain.client import NodeClient, Wallet, builder
from phrchain.client.cometbft_rpc import CometRpc
from phrchain.client.phr import Phr
from phrchain.client.trialfile import TrialFileError, verify_audit
from phrchain.client.trialfile.audit import EXPORT_TAG
from phrchain.client.trials import trial_wallet
from phrchain.client.wallet import KdfParams
from phrchain.core import encoding, keys
from phrchain.engine.abci.net import ConsensusTuning, Network, default_binary, init_network
from phrchain.engine.abci.remote import CometNode
from tests.trialflow import protocol

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not default_binary().exists(),
                       reason="no CometBFT binary: run scripts/cometbft.sh (Go >= 1.22)"),
]
PASSPHRASE = "a test passphrase"
TUNING = ConsensusTuning(timeout_propose="1s", timeout_prevote="200ms",
                         timeout_precommit="200ms", timeout_commit="200ms")


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    home = tmp_path_factory.mktemp("trials-net")
    network = init_network(home, 1, PASSPHRASE, tuning=TUNING,
                           kdf=KdfParams(memory_kib=1024, iterations=1))
    node = None
    try:
        network.up(timeout=60)
        node = CometNode(network.nodes[0].rpc_url)
        with BackgroundServer(create_app(node)) as url:  # type: ignore[arg-type]
            yield {"home": home, "network": network, "url": url,
                   "file": _run_a_trial(network, url, home)}
    finally:
        if node is not None:
            node.close()
        network.kill_node(0)


@contextlib.contextmanager
def _phr(url: str, wallet: Wallet) -> Iterator[Phr]:
    with NodeClient(url, timeout=30) as node, Phr(node, wallet, {}) as phr:
        yield phr


def _run_a_trial(network: Network, url: str, home: Path) -> bytes:
    hospital = Wallet.load(home / "wallets" / "hospital.json", PASSPHRASE)
    doctor, patient = Wallet.create("doctor"), Wallet.create("patient")
    with _phr(url, hospital) as sponsor:
        request = builder.join_request(doctor, "phr-net", hospital.did)
        sponsor.session.send([builder.admit_practitioner(
            doctor.did, ["physician"], doctor.enc_key, request["pop"])])
        trial = sponsor.trials.register(now_ms() + 1_500, protocol(sites=(hospital.did,)))
        sponsor.trials.commit(trial, "sap", b"the statistical analysis plan")
        sponsor.trials.commit(trial, "randomisation", b"1:drug 2:placebo")
        me = trial_wallet(patient, trial)
        while now_ms() < sponsor.trials.trial(trial)["start_ms"] + 1_000:
            time.sleep(0.1)
        with _phr(url, me) as participant:
            participant.session.send([builder.register_patient(me.enc_key)])
            participant.trials.enrol(trial, hospital.did)
        with _phr(url, doctor) as site:
            site.trials.entry(trial, me.did, b"visit 1")
        network.wait_height(int(sponsor.node.status()["height"]) + 3, 30)
        with CometRpc(network.nodes[0].rpc_url) as rpc:
            return sponsor.trials.export_audit(trial, rpc)


def test_the_file_verifies_against_the_genesis_validator_set(net: dict[str, Any]) -> None:
    genesis = net["network"].genesis()
    proven = verify_audit(net["file"], trust=genesis)
    assert proven["engine"] == "cometbft"
    trial = proven["trial"]
    head = proven["state"][f"trials/t/{trial}"]
    assert head["participants"] == 1 and head["baseline"] == 1
    assert sum(1 for k in proven["state"] if k.startswith(f"trials/e/{trial}/")) == 1
    # the validators alone (genesis format, no time) are a trust root too
    assert verify_audit(net["file"], trust={"validators": genesis["validators"]},
                        chain_id="phr-net")["state"] == proven["state"]


def test_another_validator_set_or_trust_kind_is_refused(net: dict[str, Any]) -> None:
    genesis = net["network"].genesis()
    stranger = keys.SigningKey(bytes(range(32)))
    import base64

    other = {**genesis, "validators": [{**genesis["validators"][0], "pub_key": {
        "type": "tendermint/PubKeyEd25519",
        "value": base64.b64encode(stranger.public_key).decode()}}]}
    with pytest.raises(TrialFileError) as refused:
        verify_audit(net["file"], trust=other)
    assert (refused.value.codespace, refused.value.code) == ("trialfile", 3)
    with pytest.raises(TrialFileError) as refused:
        verify_audit(net["file"], stranger.did)     # a solo trust root for a CometBFT file
    assert refused.value.code == 6
    with pytest.raises(TrialFileError) as refused:
        verify_audit(net["file"], trust=genesis, chain_id="another-chain")
    assert refused.value.code == 3


def test_a_tampered_entry_resealed_fails_its_proof(net: dict[str, Any]) -> None:
    hospital = Wallet.load(net["home"] / "wallets" / "hospital.json", PASSPHRASE)
    document = encoding.decode(net["file"])
    body = document["body"]
    head = next(i for i in body["entries"] if i["key"].startswith("trials/t/"))
    value = encoding.decode(bytes.fromhex(head["answer"]["raw_value"]))
    value["participants"] = 0
    head["answer"]["raw_value"] = head["answer"]["value"] = encoding.encode(value).hex()
    seal = hospital.signing_key.sign(EXPORT_TAG + encoding.encode(body)).hex()
    forged = encoding.encode({"body": body, "exporter": hospital.did, "signature": seal})
    with pytest.raises(TrialFileError) as refused:
        verify_audit(forged, trust=net["network"].genesis())
    assert refused.value.code == 4


def test_a_flipped_byte_anywhere_fails(net: dict[str, Any]) -> None:
    """Every byte position of the file, flipped (bit 0, and bit 7 in a second pass
    over a spread of positions): each variant is refused with a trialfile code."""
    data, genesis = net["file"], net["network"].genesis()
    codes: dict[int, int] = {}
    for at in range(len(data)):
        flipped = bytearray(data)
        flipped[at] ^= 0x01
        with pytest.raises(TrialFileError) as refused:
            verify_audit(bytes(flipped), trust=genesis)
        codes[refused.value.code] = codes.get(refused.value.code, 0) + 1
    assert set(codes) <= {1, 2}, codes    # not canonical, or the seal fails
    for at in range(0, len(data), 97):
        flipped = bytearray(data)
        flipped[at] ^= 0x80
        with pytest.raises(TrialFileError):
            verify_audit(bytes(flipped), trust=genesis)


def test_the_cli_verifies_with_trust(net: dict[str, Any], tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    path, trust = tmp_path / "audit.json", tmp_path / "genesis.json"
    path.write_bytes(net["file"])
    trust.write_text(json.dumps(net["network"].genesis()))
    assert main(["trials", "verify", str(path), "--trust", str(trust)]) == 0
    out, err = capsys.readouterr()
    assert any(k.startswith("trials/t/") for k in json.loads(out)) and "verifies" in err
    assert main(["trials", "verify", str(path)]) == 2     # no trust root given
    assert "--trust" in capsys.readouterr().err
    # the regulator's CLI exports a fresh file through the API and a node's RPC
    trial = verify_audit(net["file"], trust=net["network"].genesis())["trial"]
    passfile, fresh = tmp_path / "pass", tmp_path / "fresh.json"
    passfile.write_text(PASSPHRASE + "\n")
    assert main(["trials", "export", trial, "--out", str(fresh), "--node", net["url"],
                 "--wallet", str(net["home"] / "wallets" / "hospital.json"),
                 "--passphrase-file", str(passfile), "--cometbft-rpc",
                 net["network"].nodes[0].rpc_url]) == 0
    capsys.readouterr()
    assert main(["trials", "verify", str(fresh), "--trust", str(trust)]) == 0
    assert json.loads(capsys.readouterr().out) == \
        verify_audit(fresh.read_bytes(), trust=net["network"].genesis())["state"]
