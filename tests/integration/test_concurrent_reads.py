"""Queries run without the node lock while blocks commit: every answer must still be a
consistent snapshot (its value, proof and app hash agree)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from phrchain.core import smt
from phrchain.core.tx import build_tx, tx_hash
from phrchain.engine.solo.home import NodeConfig, init_home
from phrchain.engine.solo.node import SoloNode
from tests.helpers import AUTHORITY, CHAIN_ID, VALIDATOR, enc_key, genesis, signing_key


def test_proofs_stay_consistent_while_blocks_commit(tmp_path: Path) -> None:
    init_home(tmp_path / "n", genesis(), VALIDATOR.seed,
              NodeConfig(block_interval_ms=5, max_block_txs=40, verify_workers=0))
    node = SoloNode(tmp_path / "n")
    node.start()
    stop = threading.Event()
    checked = [0]
    failures: list[str] = []

    def reader() -> None:
        while not stop.is_set():
            for did in (AUTHORITY.did, signing_key(7000).did):
                answer = node.query("identity/did", {"did": did}, prove=True)
                root = bytes.fromhex(answer["app_hash"])
                header = node.header(answer["height"])
                proof = smt.SmtProof.from_json(answer["proof"])
                try:
                    if answer["raw_value"] is None:
                        smt.verify_non_membership(root, bytes.fromhex(answer["key"]), proof)
                    else:
                        smt.verify_membership(root, bytes.fromhex(answer["key"]),
                                              bytes.fromhex(answer["raw_value"]), proof)
                    if header is not None and header.header.app_hash != root:
                        failures.append(f"height {answer['height']}: header disagrees")
                except Exception as exc:
                    failures.append(f"height {answer['height']}: {exc}")
                checked[0] += 1

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        deadline = time.monotonic() + 1
        i = 0
        while time.monotonic() < deadline:
            raws = [build_tx(signing_key(7000 + i + k), CHAIN_ID, 1,
                             [{"type": "identity/register_patient", "enc_key": enc_key(k)}])
                    for k in range(20)]
            node.submit_many(raws)
            i += 20
        assert node.wait_committed(tx_hash(raws[-1]), 10)["status"] == "committed"
    finally:
        stop.set()
        thread.join(timeout=10)
        node.close()
    assert node.blocks.height() >= 5
    assert checked[0] > 50
    assert failures == []
