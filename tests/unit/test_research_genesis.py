"""Every genesis phrchain writes carries the research module's parameters (the shipped
DUO/MONDO tables), so research works on a fresh chain without ``research/set_params``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from phrchain.app import new_application
from phrchain.cli.main import main
from phrchain.core import keys
from phrchain.core.store import MemoryStateStore
from phrchain.demo.consortium import _genesis as demo_genesis
from phrchain.engine.abci.net import default_binary, init_network
from phrchain.research import terms
from phrchain.testing import Chain
from tests.researchflow import oid, study_msg
from tests.world import RR, World


def test_a_fresh_test_chain_registers_a_study_without_set_params() -> None:
    w = World()
    params = w.query("research/params")
    assert params["version"] == 1 and params["terms"] == terms.load(terms.DUO_FILE)
    # the genesis floor (k >= 5) is in force: a k = 2 study is below it, not "not enabled"
    assert w.fails(RR, study_msg(oid("s")).to_msg()) == ("research", 15)
    w.ok(RR, study_msg(oid("s"), irb=False, k=terms.DEFAULTS["min_k"]).to_msg())
    assert w.query("research/study", study=oid("s")) is not None


def test_an_explicitly_empty_section_still_means_not_enabled() -> None:
    plain = World(chain=Chain.new(research={}))
    assert plain.fails(RR, study_msg(oid("s")).to_msg()) == ("research", 3)


def test_cli_init_writes_the_research_section(tmp_path: Path) -> None:
    pw = tmp_path / "pw"
    pw.write_text("correct horse battery staple\n")
    home = tmp_path / "home"
    assert main(["init", "--home", str(home), "--passphrase-file", str(pw)]) == 0
    genesis = json.loads((home / "config" / "genesis.json").read_text())
    assert genesis["app_state"]["research"] == terms.genesis_section()
    app = new_application(MemoryStateStore())
    app.init_chain(genesis)
    assert app.query("research/params", {})["value"]["min_k"] == terms.DEFAULTS["min_k"]


def test_the_demo_genesis_carries_research_params() -> None:
    from phrchain.client.wallet import Wallet
    from phrchain.demo.consortium import ORGANIZATIONS

    wallets = {name: Wallet.create(name) for name in
               ["authority", *(o.name for o in ORGANIZATIONS)]}
    section = demo_genesis(wallets, keys.SigningKey(bytes(32)))["app_state"]["research"]
    assert section["params"]["terms"] == terms.load(terms.DUO_FILE)
    assert (section["params"]["min_k"], section["params"]["min_l"]) == (1, 1)


@pytest.mark.skipif(not default_binary().exists(),
                    reason="no CometBFT binary: run scripts/cometbft.sh (Go >= 1.22)")
def test_net_init_writes_the_research_section(tmp_path: Path) -> None:
    """``phrchain net init``'s genesis (only files: no node is started)."""
    from phrchain.client.wallet import KdfParams

    init_network(tmp_path / "net", 1, "a test passphrase",
                 kdf=KdfParams(memory_kib=1024, iterations=1, lanes=1))
    genesis = json.loads((tmp_path / "net" / "genesis.json").read_text())
    assert genesis["app_state"]["research"] == terms.genesis_section()
