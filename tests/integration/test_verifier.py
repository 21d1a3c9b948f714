"""Signature checks in worker processes: right answers, and a dead worker costs only speed."""

from __future__ import annotations

from pathlib import Path

import pytest

from phrchain.core.tx import build_tx
from phrchain.engine.solo.home import NodeConfig, init_home
from phrchain.engine.solo.node import SoloNode
from phrchain.engine.solo.verifier import ParallelVerifier, VerifierDied
from tests.helpers import CHAIN_ID, VALIDATOR, enc_key, genesis, signing_key


def test_worker_answers_match_in_process_verification() -> None:
    key = signing_key(7)
    good = [(key.public_key, key.sign(b"m%d" % i), b"m%d" % i) for i in range(300)]
    bad_sig = (key.public_key, bytes(64), b"m")
    wrong_msg = (key.public_key, key.sign(b"a"), b"b")
    small_order_key = ((1).to_bytes(32, "little"), key.sign(b"a"), b"a")
    verifier = ParallelVerifier(2)
    items = [*good, bad_sig, wrong_msg, small_order_key]
    try:
        one_by_one = [verifier.verify(*item) for item in items[295:]]
        batches = [verifier.submit_batch(items[i:i + 50]) for i in range(0, len(items), 50)]
        answers = [ok for batch in batches for ok in batch.result(timeout=30)]
    finally:
        verifier.close()
    assert one_by_one == [True] * 5 + [False, False, False]
    assert answers == [True] * 300 + [False, False, False]


def test_dead_worker_fails_futures_and_node_still_decides(tmp_path: Path) -> None:
    init_home(tmp_path / "n", genesis(), VALIDATOR.seed, NodeConfig(verify_workers=1))
    node = SoloNode(tmp_path / "n")
    try:
        assert node._verifier is not None
        for worker in node._verifier._workers:
            worker.proc.kill()
            worker.proc.wait()
        with pytest.raises(VerifierDied):
            node._verifier.verify(signing_key(1).public_key, bytes(64), b"x", timeout=10)
        good = build_tx(signing_key(300), CHAIN_ID, 1,
                        [{"type": "identity/register_patient", "enc_key": enc_key(1)}])
        forged = build_tx(signing_key(301), CHAIN_ID, 1,
                          [{"type": "identity/register_patient", "enc_key": enc_key(2)}],
                          signer=signing_key(302).did)
        results = node.submit_many([good, forged])
        assert results[0].ok
        assert (results[1].codespace, results[1].code) == ("tx", 5)
    finally:
        node.close()
