"""Throughput and latency of the phrchain app on a local 4-validator CometBFT network,
against CometBFT's built-in ``kvstore`` app on the same layout, in the same run.

For each app: ``phrchain net init``'s layout (4 validators, loopback, the tuned config of
``ConsensusTuning``), all nodes up, then an open-loop load of ``--rate`` tx/s for
``--seconds`` s, spread evenly over the 4 validators' RPC (JSON-RPC batches of
``broadcast_tx_async`` every 50 ms per node). Txs are made before the clock starts:

- phrchain: signed ``identity/register_patient`` txs, each by a fresh key (the
  signature is verified, nonce and identity written, 4 state keys, events indexed);
- kvstore: ``key=value`` txs padded to exactly the same size.

Commit time of a tx = when node0's RPC first serves the block holding it (polled every
20 ms). ``tx_per_s`` = committed txs / (last commit - first submission); ``p50_s`` and
``p95_s`` = submission-to-commit latency of the committed txs.

Last line: ``{"bench": "cometbft_throughput", "tx_per_s", "p50_s", "p95_s",
"kvstore_tx_per_s", "ratio", ...}`` with ratio = tx_per_s / kvstore_tx_per_s.

    python bench/cometbft_throughput.py [--rate 1000] [--seconds 20] [--skip-kvstore]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from phrchain.client import builder
from phrchain.client.wallet import KdfParams
from phrchain.core import keys
from phrchain.core.tx import build_tx
from phrchain.engine.abci.net import ConsensusTuning, Network, default_binary, init_network

CHAIN_ID = "phr-bench"
TICK_S = 0.05


def phrchain_txs(n: int) -> list[bytes]:
    out = []
    for i in range(n):
        key = keys.SigningKey(hashlib.sha256(b"bench signer %d" % i).digest())
        enc = keys.EncryptionKey(hashlib.sha256(b"bench enc %d" % i).digest()).public_key
        out.append(build_tx(key, CHAIN_ID, 1, [builder.register_patient(enc)]))
    return out


def kvstore_txs(n: int, size: int) -> list[bytes]:
    out = []
    for i in range(n):
        head = b"bench-%010d=" % i
        out.append(head + b"v" * (size - len(head)))
    return out


class Observer(threading.Thread):
    """Records when node0 first serves each block, and the hashes of its txs."""

    def __init__(self, url: str, start_height: int) -> None:
        super().__init__(daemon=True)
        self.client = httpx.Client(base_url=url, timeout=30)
        self.next_height = start_height + 1
        self.committed: dict[bytes, float] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            body = self.client.get("/block", params={"height": self.next_height}).json()
            if "error" in body:
                time.sleep(0.02)
                continue
            now = time.monotonic()
            for tx in body["result"]["block"]["data"]["txs"] or []:
                self.committed.setdefault(hashlib.sha256(base64.b64decode(tx)).digest(), now)
            self.next_height += 1


def submit(url: str, txs: list[bytes], rate_per_node: float, sent: dict[bytes, float],
           errors: list[str]) -> None:
    """Open loop: every tick, one JSON-RPC batch with this node's share of the rate."""
    with httpx.Client(base_url=url, timeout=30) as client:
        per_tick = max(1, round(rate_per_node * TICK_S))
        start = time.monotonic()
        for tick, first in enumerate(range(0, len(txs), per_tick)):
            delay = start + tick * TICK_S - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            chunk = txs[first:first + per_tick]
            batch = [{"jsonrpc": "2.0", "id": first + i, "method": "broadcast_tx_async",
                      "params": {"tx": base64.b64encode(raw).decode()}}
                     for i, raw in enumerate(chunk)]
            now = time.monotonic()
            for raw in chunk:
                sent[hashlib.sha256(raw).digest()] = now
            answers = client.post("/", json=batch).json()
            if isinstance(answers, dict):  # CometBFT answers a batch of one unbatched
                answers = [answers]
            errors.extend(str(a["error"]) for a in answers if "error" in a)


def run_load(net: Network, txs: list[bytes], rate: float, drain_s: float) -> dict[str, Any]:
    nodes = len(net.nodes)
    with net.rpc(0) as rpc:
        observer = Observer(net.nodes[0].rpc_url, rpc.height())
    observer.start()
    sent: dict[bytes, float] = {}
    errors: list[str] = []
    threads = [threading.Thread(target=submit, args=(net.nodes[i].rpc_url, txs[i::nodes],
                                                      rate / nodes, sent, errors))
               for i in range(nodes)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    deadline = time.monotonic() + drain_s
    while time.monotonic() < deadline and len(observer.committed.keys() & sent.keys()) < len(sent):
        time.sleep(0.1)
    observer.stop.set()
    observer.join(timeout=30)
    latencies = sorted(observer.committed[h] - t for h, t in sent.items()
                       if h in observer.committed)
    if not latencies:
        raise SystemExit(f"nothing committed (errors: {errors[:3]})")
    first = min(sent.values())
    last = max(observer.committed[h] for h in sent if h in observer.committed)
    q = statistics.quantiles(latencies, n=20)
    return {"submitted": len(sent), "committed": len(latencies), "rpc_errors": len(errors),
            "tx_per_s": round(len(latencies) / (last - first), 1),
            "p50_s": round(statistics.median(latencies), 3), "p95_s": round(q[18], 3),
            "blocks": observer.next_height - 1}


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of ``pid`` and its live children (e.g. the state writer)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(stat.parent.name) == pid or int(fields[1]) == pid:
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def cpu_by_kind(net: Network) -> dict[str, float]:
    """CPU seconds used so far by all validators' apps and all CometBFT processes."""
    out = {"app_cpu_s": 0.0, "cometbft_cpu_s": 0.0}
    for index in range(len(net.nodes)):
        path = net.node_dir(index) / "pids.json"
        for name, pid in (json.loads(path.read_text()) if path.exists() else {}).items():
            out[f"{name}_cpu_s"] += _cpu_seconds(pid)
    return {k: round(v, 1) for k, v in out.items()}


def _cpu_per_tx(result: dict[str, Any], validators: int = 4) -> float:
    cpu = result.get("app_cpu_s", 0.0) + result.get("cometbft_cpu_s", 0.0)
    return round(1e6 * cpu / validators / max(1, result["committed"]), 1)


def bench(app: str, root: Path, txs: list[bytes], args: argparse.Namespace,
          tuning: ConsensusTuning) -> dict[str, Any]:
    net = init_network(root / app, 4, "bench passphrase", CHAIN_ID, tuning=tuning,
                       kdf=KdfParams(memory_kib=1024, iterations=1))
    try:
        net.up(timeout=60, builtin_app="kvstore" if app == "kvstore" else None)
        net.wait_height(3, 30)
        before, own = cpu_by_kind(net), time.process_time()
        result = run_load(net, txs, args.rate, args.drain)
        after = cpu_by_kind(net)
        result.update({k: round(after[k] - before[k], 1) for k in after})
        result["load_generator_cpu_s"] = round(time.process_time() - own, 1)
    finally:
        net.down()
    print(f"{app}: {json.dumps(result)}", file=sys.stderr)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=1000, help="offered tx/s (all nodes)")
    parser.add_argument("--seconds", type=float, default=20, help="load duration")
    parser.add_argument("--drain", type=float, default=30, help="max wait after the load")
    parser.add_argument("--timeout-commit", default=ConsensusTuning.timeout_commit)
    parser.add_argument("--skip-kvstore", action="store_true")
    parser.add_argument("--keep", help="keep the networks' directories here (logs)")
    parser.add_argument("--log-level", default="error", help="CometBFT log level")
    parser.add_argument("--mempool-size", type=int, default=ConsensusTuning.mempool_size)
    parser.add_argument("--quick", action="store_true",
                        help="200 tx/s for 3 s, at most 15 s of drain, per app")
    args = parser.parse_args()
    if args.quick:
        args.rate, args.seconds, args.drain = 200, 3, 15
    if not default_binary().exists():
        raise SystemExit("no CometBFT binary: run scripts/cometbft.sh first")
    tuning = ConsensusTuning(timeout_commit=args.timeout_commit, log_level=args.log_level,
                             mempool_size=args.mempool_size)
    n = int(args.rate * args.seconds)
    ours = phrchain_txs(n)
    size = len(ours[0])
    assert all(len(t) == size for t in ours), "txs differ in size"
    with tempfile.TemporaryDirectory(prefix="phrchain-bench-") as tmp:
        root = Path(args.keep or tmp)
        mine = bench("phrchain", root, ours, args, tuning)
        kv = None if args.skip_kvstore else bench("kvstore", root, kvstore_txs(n, size),
                                                   args, tuning)
    line = {"bench": "cometbft_throughput", "tx_per_s": mine["tx_per_s"],
            "p50_s": mine["p50_s"], "p95_s": mine["p95_s"],
            "kvstore_tx_per_s": kv["tx_per_s"] if kv else None,
            "ratio": round(mine["tx_per_s"] / kv["tx_per_s"], 3) if kv else None,
            "kvstore_p50_s": kv["p50_s"] if kv else None,
            "kvstore_p95_s": kv["p95_s"] if kv else None,
            "offered_tx_per_s": args.rate, "seconds": args.seconds, "tx_bytes": size,
            "validators": 4, "committed": mine["committed"], "submitted": mine["submitted"],
            "timeout_commit": tuning.timeout_commit,
            # CPU per committed tx per validator (app + CometBFT; kvstore runs inside
            # CometBFT), so the two apps compare by cost as well as by rate.
            "validator_cpu_us_per_tx": _cpu_per_tx(mine),
            "kvstore_validator_cpu_us_per_tx": _cpu_per_tx(kv) if kv else None}
    print(json.dumps(line))
    return 0


if __name__ == "__main__":
    sys.exit(main())
