"""Crash safety: SIGKILL a real node process under load, again and again.

Every tx the API reported committed must still be committed after restart, and
`phrchain verify` must pass on what is left on disk. The node, process and load
helpers are the crash campaign's (tests/crash_harness.py, tests/processes.py), which
also kills the state writer and a vault."""

from __future__ import annotations

import random
import time
from pathlib import Path

import httpx

from phrchain.engine.solo.home import NodeConfig, init_home
from tests.crash_harness import TxLoad, tx_pool
from tests.helpers import VALIDATOR, genesis
from tests.processes import kill_group, start_node, stop_node, verify_home

ROUNDS = 10


def test_sigkill_under_load_loses_no_reported_tx(tmp_path: Path) -> None:
    home = tmp_path / "node"
    init_home(home, genesis(), VALIDATOR.seed,
              NodeConfig(block_interval_ms=20, max_block_txs=100))
    rng = random.Random(20261130)
    pool = tx_pool(4000)
    reported: list[str] = []
    log = tmp_path / "node.log"
    heights = []
    for _ in range(ROUNDS):
        proc, url = start_node(home, log)
        with TxLoad(url, pool) as load:
            time.sleep(rng.uniform(0.3, 1.5))
            heights.append(httpx.get(f"{url}/v1/status").json()["height"])
            kill_group(proc)  # the node and any worker process it started
        reported += [tx_hash for tx_hash, _ in load.reported]
    assert len(reported) >= 100, "the load was too light to mean anything"
    assert heights == sorted(heights)

    proc, url = start_node(home, log)
    try:
        with httpx.Client(base_url=url, timeout=10) as client:
            for tx_hash in reported:
                status = client.get(f"/v1/txs/{tx_hash}").json()
                assert status["status"] == "committed" and status["result"]["code"] == 0, \
                    (tx_hash, status)
    finally:
        assert stop_node(proc) == 0
    verify = verify_home(home)
    assert verify.returncode == 0, verify.stdout + verify.stderr
