"""Network faults on a real 4-validator CometBFT network in an isolated network namespace:
one validator partitioned and healed; a minority partition stops committing while the
majority goes on, and after healing there is no fork.

``tests/netfaults.py`` runs the network and the partitions as PID 1 of fresh network,
PID and mount namespaces (``unshare``), where only loopback exists and partitions are
nftables rules; this test checks what it measured. The run is bounded (``TIMEOUT``);
when it ends, or is killed, the kernel ends every process in the namespaces and the
namespaces themselves.

Needs root (namespaces, nftables), ``unshare``, ``setpriv``, ``nft`` (``scripts/test.sh``
installs Debian's nftables) and the CometBFT binary. Skipped, saying why, only when not
root or without ``unshare``, or without CometBFT like every CometBFT test.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from phrchain.engine.abci.net import default_binary

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 170  # the whole run; it takes about a minute on an idle machine
CAN_NAMESPACE = os.geteuid() == 0 and shutil.which("unshare") is not None

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not default_binary().exists(),
                       reason="no CometBFT binary: run scripts/cometbft.sh (Go >= 1.22)"),
    pytest.mark.skipif(not CAN_NAMESPACE,
                       reason="NETWORK-FAULT TESTS NOT RUN: they need root and `unshare` "
                              "to make an isolated network namespace"),
]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    for tool in ("nft", "setpriv", "ip"):
        assert shutil.which(tool), f"`{tool}` is missing: scripts/test.sh installs it " \
                                   "(apt-get install nftables util-linux iproute2)"
    tmp = tmp_path_factory.mktemp("netfaults")
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}:{ROOT}",
           "PHRCHAIN_COMETBFT": str(default_binary())}
    done = subprocess.run(
        ["unshare", "--net", "--pid", "--mount", "--fork", "--kill-child", "--mount-proc",
         sys.executable, "-m", "tests.netfaults", str(tmp)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=TIMEOUT, check=False)
    assert done.returncode == 0, f"netfaults failed:\n{done.stderr[-6000:]}"
    yield json.loads(done.stdout.strip().splitlines()[-1])


def test_isolated_validator_stops_others_go_on_and_it_catches_up(
        run: dict[str, Any]) -> None:
    phase = run["isolated"]
    at_cut, before = phase["at_cut"], phase["before_heal"]
    assert phase["side"] == [3]
    assert phase["dropped"] > 0  # the cut is what stopped it
    assert before["3"] == at_cut["3"]  # cut off: it committed nothing more
    for i in ("0", "1", "2"):
        assert before[i] >= at_cut[i] + 3  # three quarters of the power: they go on
    assert max(before.values()) > before["3"] + 2
    assert phase["catch_up_s"] < 60  # healed: it reached the others (bounded wait)


def test_minority_partition_commits_nothing_majority_goes_on(run: dict[str, Any]) -> None:
    phase = run["minority"]
    at_cut, before = phase["at_cut"], phase["before_heal"]
    assert phase["side"] == [1]
    assert phase["dropped"] > 0
    assert before["1"] == at_cut["1"]
    for i in ("0", "2", "3"):
        assert before[i] >= at_cut[i] + 3
    # txs sent to the majority committed during the partition, the minority's did not...
    assert phase["landed_during"] == {"0": [True] * 3, "1": [False] * 3}
    # ... and after healing every tx is committed on every node
    assert all(all(v) and len(v) == 12 for v in phase["landed_after"].values())


def test_no_fork_after_healing(run: dict[str, Any]) -> None:
    view = run["view"]
    assert run["top"] >= run["minority"]["before_heal"]["0"] + 1
    assert len(view) == 4 and all(len(rows) == run["top"] for rows in view)
    for rows in view[1:]:
        assert rows == view[0]  # same block hash and app hash at every height
    assert len({block for block, _ in view[0]}) == run["top"]
