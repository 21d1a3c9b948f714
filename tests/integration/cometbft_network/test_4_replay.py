"""Last on the shared network: replaying all of its blocks through the solo engine's
application gives the same app hashes."""

from __future__ import annotations

import base64
from pathlib import Path

from phrchain.app import BlockInfo, new_application
from phrchain.client.lightclient_cometbft import parse_time
from phrchain.engine.abci.net import Network
from phrchain.storage.sqlite_state import SqliteStateStore
from tests.integration.cometbft_network.network import MARKS

pytestmark = MARKS


def test_replaying_the_blocks_through_the_solo_application_gives_the_same_app_hashes(
        net: Network, tmp_path: Path) -> None:
    genesis = net.genesis()
    seconds, nanos = parse_time(genesis["genesis_time"])
    store = SqliteStateStore(tmp_path / "state.db")  # the solo engine's store and app
    app = new_application(store)
    try:
        app.init_chain({"chain_id": genesis["chain_id"],
                        "genesis_time_ms": seconds * 1000 + nanos // 1_000_000,
                        "app_state": genesis["app_state"]})
        with net.rpc(0) as rpc:
            top = rpc.height() - 1  # the app hash after block top is in header top + 1
            assert top > 20
            with_txs = 0
            for height in range(1, top + 1):
                block = rpc.block(height)["block"]
                seconds, nanos = parse_time(block["header"]["time"])
                txs = rpc.block_txs(height)
                with_txs += bool(txs)
                result = app.finalize_block(
                    BlockInfo(height, seconds * 1000 + nanos // 1_000_000), txs)
                app.commit()
                results = rpc.block_results(height)
                assert [r.code for r in result.tx_results] == \
                    [r["code"] for r in results["txs_results"] or []]
                assert result.app_hash == base64.b64decode(results["app_hash"])
                next_header = rpc.block(height + 1)["block"]["header"]
                assert result.app_hash.hex().upper() == next_header["app_hash"], height
        assert with_txs >= 5
    finally:
        store.close()
