"""Pruning on a real CometBFT network: every app keeps its last 5 state versions and
tells CometBFT a retain height, so old blocks go too; the chain goes on, every node
agrees, and a query below the retained versions answers ``query/3``.

Needs the CometBFT binary (``scripts/cometbft.sh``); without it these tests are skipped.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from phrchain.client.cometbft_rpc import RpcError
from phrchain.client.wallet import KdfParams
from phrchain.engine.abci.net import ConsensusTuning, default_binary, init_network

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not default_binary().exists(),
                       reason="no CometBFT binary: run scripts/cometbft.sh (Go >= 1.22)"),
]

TUNING = ConsensusTuning(timeout_propose="1s", timeout_prevote="300ms",
                         timeout_precommit="300ms", timeout_commit="200ms")


def test_pruning_nodes_keep_their_last_versions_and_blocks(tmp_path: Path) -> None:
    net = init_network(tmp_path / "net", 2, "test passphrase", "phr-prune", tuning=TUNING,
                       kdf=KdfParams(memory_kib=1024, iterations=1), keep_versions=5)
    try:
        net.up(timeout=60)
        net.wait_height(16, 60)
        with net.rpc(0) as rpc:
            top = rpc.height()
            with pytest.raises(RpcError, match="query/3"):  # pruned state version
                rpc.abci_query("identity/nonce", {"did": "x"}, height=2)
            assert rpc.abci_query("identity/nonce", {"did": "x"}, height=top - 2)
            with pytest.raises(RpcError, match="lowest height"):  # CometBFT pruned blocks
                rpc.block(2)
        hashes = set()
        for index in range(2):
            with net.rpc(index) as rpc:
                hashes.add(rpc.block(top)["block"]["header"]["app_hash"])
        assert len(hashes) == 1
    finally:
        for index in range(len(net.nodes)):
            net.kill_node(index)
