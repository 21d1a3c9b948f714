"""Governance through the SDK and the CLI against a solo node over HTTP: the council
admits a new member, re-weights a validator and sets a parameter; a proposal below the
threshold stays open; the CLI proposes, votes, lists and shows. (The solo engine has
one block signer: the governed validator set changes in the state only.)"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from phrchain import testing
from phrchain.api.server import BackgroundServer, create_app
from phrchain.cli.main import main
from phrchain.client import GovernanceClient, KdfParams, Session, council_admission
from phrchain.client.http import ApiError, NodeClient
from phrchain.client.wallet import Wallet
from phrchain.core import keys
from phrchain.engine.solo.home import NodeConfig, init_home
from phrchain.engine.solo.node import SoloNode
from phrchain.modules.governance.actions import SetParameter, SetValidatorPower

CHAIN = "phr-gov"
VALIDATOR = keys.SigningKey(bytes([9]) * 32)
CHEAP_KDF = KdfParams(memory_kib=1024, iterations=1)


def _wallet(n: int, label: str) -> Wallet:
    return Wallet.from_secrets(bytes([n]) * 32, bytes([n + 100]) * 32, label)


COUNCIL = [_wallet(n, f"member {n}") for n in (1, 2, 3)]
ORGS = [_wallet(n, f"org {n}") for n in (11, 12, 13, 14)]
VALIDATOR_KEYS = [keys.SigningKey(bytes([n]) * 32).public_key for n in (21, 22, 23, 24)]


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    home = tmp_path_factory.mktemp("gov") / "home"
    # The shipped test genesis's app_state (so its format fields carry over), with this
    # council and these organizations.
    app_state = testing.genesis(CHAIN)["app_state"]
    genesis = {"chain_id": CHAIN, "genesis_time_ms": 0, "validator": VALIDATOR.did,
               "app_state": {
                   **app_state,
                   "identity": {
                       "authorities": [{"did": w.did, "enc_key": w.enc_key.hex(),
                                        "name": w.label} for w in COUNCIL],
                       "organizations": [{"did": o.did, "org_type": "hospital",
                                          "name": o.label, "enc_key": o.enc_key.hex()}
                                         for o in ORGS]},
                   "governance": {"voting_period": 50, "min_validators": 4, "validators": [
                       {"pub_key": k.hex(), "power": 10, "organization": o.did}
                       for k, o in zip(VALIDATOR_KEYS, ORGS, strict=True)]}}}
    init_home(home, genesis, VALIDATOR.seed, NodeConfig(block_interval_ms=20))
    solo = SoloNode(home)
    solo.start()
    try:
        with BackgroundServer(create_app(solo, commit_timeout=10)) as base:
            yield base
    finally:
        solo.close()


@pytest.fixture
def gov(url: str) -> Iterator[Any]:
    """``gov(wallet)``: a governance client for ``wallet``; every node client is closed
    at the end of the test."""
    nodes: list[NodeClient] = []

    def make(wallet: Wallet) -> GovernanceClient:
        nodes.append(NodeClient(url, timeout=15))
        return GovernanceClient(Session(nodes[-1], wallet, {}))

    yield make
    for node in nodes:
        node.close()


def test_the_council_decides_through_the_sdk(gov: Any) -> None:
    first, second = gov(COUNCIL[0]), gov(COUNCIL[1])
    proposal = first.propose(SetValidatorPower(VALIDATOR_KEYS[0], 12))
    assert first.proposal(proposal)["status"] == "open"  # the proposer alone: open
    second.vote(proposal)
    done = first.proposal(proposal)
    assert done["status"] == "executed" and done["votes"] == {
        COUNCIL[0].did: "yes", COUNCIL[1].did: "yes"}
    powers = {v["pub_key"]: v["power"] for v in first.validators()["validators"]}
    assert powers[VALIDATOR_KEYS[0].hex()] == 12

    newcomer = _wallet(4, "member 4")
    admitted = first.propose(council_admission(newcomer, CHAIN, "member 4"))
    second.vote(admitted)
    assert first.proposal(admitted)["status"] == "executed"
    assert gov(newcomer).propose(SetParameter("vault", "max_mb", 64)) > admitted

    with pytest.raises(ApiError) as refused:  # a second vote by the same member
        second.vote(admitted)
    assert (refused.value.codespace, refused.value.code) == ("governance", 4)
    assert [p["id"] for p in first.proposals("open")] == [admitted + 1]


def test_the_cli_proposes_votes_lists_and_shows(url: str, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    pw = tmp_path / "pw"
    pw.write_text("pass\n")
    wallets = []
    for member in COUNCIL:
        path = tmp_path / f"{member.label}.json"
        member.save(path, "pass", CHEAP_KDF)
        wallets.append(str(path))
    base = ["--node", url, "--passphrase-file", str(pw)]
    assert main(["gov", "propose", "set-parameter", "--module", "block", "--name", "limits",
                 "--value", '{"max_txs": 500}', "--wallet", wallets[0], *base]) == 0
    proposed = json.loads(capsys.readouterr().out.split("\n", 1)[1])
    pid = proposed["proposal"]
    # four members since the first test: three yes votes are needed
    for voter in wallets[1:]:
        assert main(["gov", "vote", pid, "yes", "--wallet", voter, *base]) == 0
    capsys.readouterr()
    assert main(["gov", "show", pid, "--node", url]) == 0
    shown: dict[str, Any] = json.loads(capsys.readouterr().out)
    assert shown["status"] == "executed" and shown["action"]["value"] == {"max_txs": 500}
    assert main(["gov", "list", "--status", "executed", "--node", url]) == 0
    assert int(pid) in [p["id"] for p in json.loads(capsys.readouterr().out)["proposals"]]
    # base64 consensus keys as CometBFT prints them are accepted
    b64 = __import__("base64").b64encode(VALIDATOR_KEYS[1]).decode()
    assert main(["gov", "propose", "set-validator-power", "--pub-key", b64, "--power", "11",
                 "--wallet", wallets[0], *base]) == 0
    capsys.readouterr()
    assert main(["gov", "validators", "--node", url]) == 0
    assert json.loads(capsys.readouterr().out)["total_power"] >= 40
    # a refusal is one error line with the stable code, exit code 2
    assert main(["gov", "vote", "999", "yes", "--wallet", wallets[1], *base]) == 2
    assert "governance/3" in capsys.readouterr().err
