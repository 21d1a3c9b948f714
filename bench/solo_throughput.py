"""Solo engine throughput versus raw Ed25519 verification, measured in one run.

(a) ``verify_per_s``: single-core Ed25519 verifications per second with the pinned
    library (``cryptography``/OpenSSL), on distinct messages and keys, keys preloaded.
(b) ``tx_per_s``: signed, state-changing txs (patient self-registrations, each a new
    identity with its own X25519 key: 4 state keys written) submitted through
    ``SoloNode.submit_many`` — the path the API's batch endpoint uses in-process — in
    chunks of ``--chunk``, and counted when their block is committed to SQLite (fsync).
    Signature checks run in the node's verifier process (``verify_workers``).

The txs are signed before the clock starts (signing is the clients' work).
Last line: ``{"bench": "solo_throughput", "verify_per_s": …, "tx_per_s": …, "ratio": …}``.

    python bench/solo_throughput.py [--txs 20000] [--profile]
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from phrchain.core import keys
from phrchain.core.tx import build_tx, tx_hash
from phrchain.engine.solo.home import NodeConfig, init_home
from phrchain.engine.solo.node import SoloNode
from phrchain.modules.identity.messages import RegisterPatient

CHAIN_ID = "phr-bench"


def bench_verify(n: int) -> float:
    signers = [Ed25519PrivateKey.from_private_bytes(i.to_bytes(32, "big")) for i in
               range(1, 65)]
    publics = [s.public_key() for s in signers]
    items = [(publics[i % 64], signers[i % 64].sign(b"msg %d" % i), b"msg %d" % i)
             for i in range(n)]
    start = time.perf_counter()
    for public, sig, msg in items:
        public.verify(sig, msg)
    return n / (time.perf_counter() - start)


def make_home(root: Path, pipeline: bool = True) -> Path:
    authority = keys.SigningKey(bytes([1]) * 32)
    validator = keys.SigningKey(bytes([2]) * 32)
    enc = keys.EncryptionKey(bytes([3]) * 32).public_key.hex()
    genesis = {"chain_id": CHAIN_ID, "genesis_time_ms": 0, "validator": validator.did,
               "app_state": {"version": 2, "identity": {"authorities": [
                   {"did": authority.did, "enc_key": enc, "name": "Bench"}]}}}
    home = root / "node"
    init_home(home, genesis, validator.seed,
              NodeConfig(block_interval_ms=50, max_block_txs=2000, pipeline=pipeline))
    return home


def bench_txs(home: Path, n: int, chunk: int, clients: int,
              profile: bool) -> tuple[float, int, float]:
    """(committed txs/s, blocks, CPU seconds of the node: its process's threads and its
    verifier and state-writer processes, from its start to its close)."""
    raws = [build_tx(keys.SigningKey((10_000 + i).to_bytes(32, "big")), CHAIN_ID, 1,
                     [RegisterPatient(keys.EncryptionKey((20_000 + i).to_bytes(32, "big"))
                                      .public_key).to_msg()])
            for i in range(n)]
    cpu0 = _cpu_s()
    node = SoloNode(home)
    node.start()
    chunks = [raws[i:i + chunk] for i in range(0, n, chunk)]
    failures: list[str] = []

    def client(mine: list[list[bytes]]) -> None:
        for txs in mine:
            failures.extend(r.log for r in node.submit_many(txs) if not r.ok)

    threads = [threading.Thread(target=client, args=(chunks[k::clients],))
               for k in range(clients)]
    profiler = None
    if profile:  # profilers are imported only under --profile
        import cProfile

        profiler = cProfile.Profile()
    start = time.perf_counter()
    if profiler:
        profiler.enable()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise SystemExit(f"{len(failures)} submits failed, e.g. {failures[0]}")
    status = [node.wait_committed(tx_hash(c[-1]), timeout=600) for c in chunks]
    elapsed = time.perf_counter() - start
    if profiler:
        profiler.disable()
        import pstats

        pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(25)
    assert all(s["status"] == "committed" for s in status), status
    height = node.blocks.height()
    node.close()  # waits for its child processes: their CPU is counted from here
    return n / elapsed, height, _cpu_s() - cpu0


def _cpu_s() -> float:
    own, children = (resource.getrusage(who) for who in (resource.RUSAGE_SELF,
                                                        resource.RUSAGE_CHILDREN))
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--txs", type=int, default=20_000)
    parser.add_argument("--verifies", type=int, default=20_000)
    parser.add_argument("--chunk", type=int, default=500)
    parser.add_argument("--clients", type=int, default=4,
                        help="concurrent in-process clients (API threads do the same)")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--pipeline", choices=("on", "off"), default="on",
                        help="execute block N+1 while block N commits (NodeConfig.pipeline)")
    parser.add_argument("--quick", action="store_true", help="2,000 txs and verifies")
    args = parser.parse_args()
    if args.quick:
        args.txs, args.verifies = 2000, 2000
    verify_per_s = bench_verify(args.verifies)
    with tempfile.TemporaryDirectory() as tmp:
        home = make_home(Path(tmp), args.pipeline == "on")
        tx_per_s, blocks, cpu_s = bench_txs(home, args.txs, args.chunk, args.clients, args.profile)
    print(f"verify: {verify_per_s:,.0f}/s   txs: {tx_per_s:,.0f}/s committed in {blocks} "
          f"blocks", file=sys.stderr)
    print(json.dumps({"bench": "solo_throughput", "verify_per_s": round(verify_per_s),
                      "tx_per_s": round(tx_per_s), "ratio": round(tx_per_s / verify_per_s, 3),
                      "txs": args.txs, "blocks": blocks, "clients": args.clients,
                      "pipeline": args.pipeline == "on",
                      "node_cpu_us_per_tx": round(cpu_s * 1e6 / args.txs)}))


if __name__ == "__main__":
    main()
