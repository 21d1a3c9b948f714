"""Network faults on a real 4-validator CometBFT network, run inside a network namespace
of its own (``tests/integration/test_cometbft_netfaults.py`` starts this module under
``unshare --net --pid --mount --fork --kill-child``; it refuses to run anywhere else).

Inside the fresh namespace only loopback exists. The four validators listen on their own
loopback ports; each one's CometBFT runs with its own group id (``setpriv --regid``), so
an nftables rule can tell who opened a connection: the first packet of every p2p
connection marks it (conntrack mark = dialer, acceptor), and a partition is one rule that
drops every packet, both ways, of the connections crossing the cut. Healing flushes it.

Scenario (one network, so the whole run stays short), printed as one JSON line:

1. ``isolated``: validator 3 is cut off; the other three go on committing, 3 stops; healed,
   3 catches up.
2. ``minority``: validator 1 (a quarter of the voting power, below the two thirds a block
   needs) is cut off while txs are sent to both sides: the majority commits its txs, the
   minority commits nothing; healed, the minority's txs commit too.
3. every node's block hash and app hash at every height, for the test to compare.

Every wait is bounded. Being PID 1 of its own PID namespace, this process takes every
process it started with it when it ends (the kernel kills the namespace), and the
namespace ends with it: nothing stays behind, even when it is killed.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from phrchain.client import builder
from phrchain.client.cometbft_rpc import RpcError
from phrchain.client.wallet import KdfParams
from phrchain.core import keys
from phrchain.core.tx import build_tx
from phrchain.engine.abci.net import ConsensusTuning, Network, default_binary, init_network

CHAIN = "phr-faults"
NODES = 4
GID_BASE = 7100  # validator i's CometBFT runs with group id GID_BASE + i
TUNING = ConsensusTuning(timeout_propose="1s", timeout_prevote="300ms",
                         timeout_precommit="300ms", timeout_commit="300ms")
TABLE = "phrfaults"


def log(msg: str) -> None:
    print(f"[netfaults {time.monotonic():.1f}] {msg}", file=sys.stderr, flush=True)


def nft(script: str) -> None:
    subprocess.run(["nft", "-f", "-"], input=script.encode(), check=True, timeout=10)


def mark(dialer: int, acceptor: int) -> int:
    return (dialer + 1) << 8 | (acceptor + 1)


def install_marks(net: Network) -> None:
    """Mark each p2p connection with (dialer, acceptor) on its first packet; ``cut``
    (empty: no partition) is consulted for every packet."""
    rules = [f"ct state new meta skgid {GID_BASE + i} tcp dport {node.p2p_port} "
             f"ct mark set {mark(i, j)}"
             for i in range(NODES) for j, node in enumerate(net.nodes) if i != j]
    body = "\n    ".join(rules)
    nft(f"table inet {TABLE} {{\n  chain cut {{\n  }}\n  chain out {{\n"
        f"    type filter hook output priority 0; policy accept;\n    {body}\n"
        f"    jump cut\n  }}\n}}\n")


def cut(side: set[int]) -> None:
    """Drop every packet of every connection between ``side`` and the other nodes."""
    other = set(range(NODES)) - side
    marks = ", ".join(str(mark(a, b)) for a in side for b in other) + ", " + ", ".join(
        str(mark(b, a)) for a in side for b in other)
    nft(f"add rule inet {TABLE} cut ct mark {{ {marks} }} counter drop\n")


def heal() -> int:
    """Remove the cut; the packets it dropped."""
    listing = subprocess.run(["nft", "list", "chain", "inet", TABLE, "cut"], check=True,
                             capture_output=True, text=True, timeout=10).stdout
    nft(f"flush chain inet {TABLE} cut\n")
    return sum(int(n) for n in re.findall(r"counter packets (\d+)", listing))


def wrapper(tmp: Path) -> Path:
    """A CometBFT binary that runs the real one with validator i's group id."""
    real = default_binary()
    cases = "\n".join(f'  *"/node{i}/cometbft"*) gid={GID_BASE + i} ;;' for i in range(NODES))
    path = tmp / "cometbft"
    path.write_text(f'#!/bin/sh\ngid={GID_BASE}\ncase "$*" in\n{cases}\nesac\n'
                    f'exec setpriv --regid "$gid" --clear-groups {real} "$@"\n')
    path.chmod(0o755)
    return path


def height(net: Network, index: int) -> int:
    try:
        with net.rpc(index, timeout=2.0) as rpc:
            return rpc.height()
    except RpcError:
        return -1


def wait_until(what: str, check: Any, timeout: float) -> float:
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout:
            raise TimeoutError(f"{what}: not within {timeout:.0f} s")
        time.sleep(0.2)
    return time.monotonic() - start


def patient_tx() -> bytes:
    key = keys.SigningKey(secrets.token_bytes(32))
    enc = keys.EncryptionKey(secrets.token_bytes(32)).public_key
    return build_tx(key, CHAIN, 1, [builder.register_patient(enc)])


def committed(net: Network, index: int, raw: bytes) -> bool:


    with net.rpc(index) as rpc:
        found = rpc.tx(hashlib.sha256(raw).digest())
    return found is not None and found["tx_result"]["code"] == 0


def partition(net: Network, side: set[int], hold: float,
              send: dict[int, int] | None = None) -> dict[str, Any]:
    """Cut ``side`` off for at least ``hold`` seconds (and until the others have
    committed 3 more blocks); send ``send[node]`` txs to nodes; heal; wait for all."""
    others = sorted(set(range(NODES)) - side)
    cut(side)
    at_cut = settled(net, side)  # a block in flight at the cut may still land
    txs = {i: [patient_tx() for _ in range(n)] for i, n in (send or {}).items()}
    for i, raws in txs.items():
        with net.rpc(i) as rpc:
            for raw in raws:
                assert rpc.broadcast_tx_sync(raw)["code"] == 0
    start = time.monotonic()
    wait_until("the majority commits", lambda: min(height(net, i) for i in others)
               >= max(at_cut[i] for i in others) + 3, 40)
    ours = [raw for i, raws in txs.items() if i not in side for raw in raws]
    wait_until("the majority commits the txs sent to it",
               lambda: all(committed(net, others[0], raw) for raw in ours), 40)
    time.sleep(max(0.0, hold - (time.monotonic() - start)))
    during = {i: height(net, i) for i in range(NODES)}
    landed = {i: [committed(net, others[0], raw) for raw in raws] for i, raws in txs.items()}
    dropped = heal()
    log(f"healed {sorted(side)} ({dropped} packets dropped): heights at cut {at_cut}, "
        f"before healing {during}")
    top = max(during.values())
    caught_up = wait_until("every node catches up",
                           lambda: all(height(net, i) >= top + 1 for i in range(NODES)), 60)
    after = {i: [committed(net, i, raw) for raw in raws] for i, raws in txs.items()}
    if txs:
        wait_until("every tx commits after healing", lambda: all(
            committed(net, j, raw) for raws in txs.values() for raw in raws
            for j in range(NODES)), 40)
        after = {i: [committed(net, n, raw) for n in range(NODES) for raw in raws]
                 for i, raws in txs.items()}
    return {"side": sorted(side), "at_cut": at_cut, "before_heal": during,
            "landed_during": {str(k): v for k, v in landed.items()},
            "landed_after": {str(k): v for k, v in after.items()},
            "catch_up_s": round(caught_up, 1), "dropped": dropped}


def settled(net: Network, side: set[int]) -> dict[int, int]:
    """Every node's height once ``side``'s has not moved for a second (bounded)."""
    last, still_since = None, time.monotonic()
    deadline = still_since + 15
    while time.monotonic() < deadline:
        now = {i: height(net, i) for i in side}
        if now != last:
            last, still_since = now, time.monotonic()
        elif time.monotonic() - still_since >= 1.0:
            break
        time.sleep(0.2)
    return {i: height(net, i) for i in range(NODES)}


def chain_view(net: Network, upto: int) -> list[list[list[str]]]:
    """Per node, per height 1..upto: [block hash, app hash]."""
    view = []
    for index in range(NODES):
        with net.rpc(index) as rpc:
            rows = []
            for h in range(1, upto + 1):
                block = rpc.block(h)
                rows.append([block["block_id"]["hash"], block["block"]["header"]["app_hash"]])
        view.append(rows)
    return view


def run(tmp: Path) -> dict[str, Any]:
    net = init_network(tmp / "net", NODES, "test passphrase", CHAIN, binary=wrapper(tmp),
                       tuning=TUNING, kdf=KdfParams(memory_kib=1024, iterations=1))
    install_marks(net)
    try:
        net.up(timeout=60)
        net.wait_height(3, 30)
        log("network up")
        isolated = partition(net, {3}, hold=4.0)
        minority = partition(net, {1}, hold=4.0, send={1: 3, 0: 3})
        top = min(height(net, i) for i in range(NODES))
        return {"isolated": isolated, "minority": minority, "top": top,
                "view": chain_view(net, top)}
    finally:
        for index in range(NODES):
            net.kill_node(index)


def main() -> None:
    if os.getpid() != 1:
        sys.exit("netfaults: run me as PID 1 of a fresh namespace (see the docstring)")
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True, timeout=10)
    result = run(Path(sys.argv[1]))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
