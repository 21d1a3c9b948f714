"""Serial CPU cost per tx of the node's phases, in one thread: where a tx's time goes.

The solo engine overlaps its phases on two cores and several threads, so its wall-clock
throughput on a shared machine mixes everything. This bench runs the same work serially
on an in-process :class:`~phrchain.storage.sqlite_state.SqliteStateStore` and measures
each phase's *CPU time of this process* (``time.process_time``), which other jobs on
the machine disturb much less than wall time:

* ``signature_job_us``: what the node does before handing a signature to the verifier
  worker (decode, resolve the signer's key: a new signer's key is checked on the curve);
* ``admission_us``: ``check_tx`` of each tx (decode, key checks, handler, state reads);
* ``execution_us``: ``finalize_block`` (the same again on the block's state, then the
  sparse-Merkle update), of which ``stage_us`` is the tree update and its hashing;
* ``commit_us``: writing the version to SQLite (node rows, kv rows, fsync);
* ``node_us``: their sum, the node thread's CPU per tx.

Signatures are verified before the clock runs (the engines do it in a worker process),
as are signing and key generation (the clients' work). The txs are patient
self-registrations, as in ``solo_throughput`` (4 state keys each). Run it twice to
compare the compiled hot path with the pure-Python reference::

    python bench/hot_path.py [--txs 16000] [--block 2000] [--quick]
    PHRCHAIN_PURE=1 python bench/hot_path.py

Last line: ``{"bench": "hot_path", "node_us": …, "stage_us": …, "hot_path": …}``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from phrchain.app import BlockInfo, new_application
from phrchain.core import accel, keys
from phrchain.core.tx import build_tx
from phrchain.modules.identity.messages import RegisterPatient
from phrchain.storage.sqlite_state import SqliteStateStore

CHAIN_ID = "phr-bench"


def signed_txs(n: int) -> list[bytes]:
    return [build_tx(keys.SigningKey((10_000 + i).to_bytes(32, "big")), CHAIN_ID, 1,
                     [RegisterPatient(keys.EncryptionKey((20_000 + i).to_bytes(32, "big"))
                                      .public_key).to_msg()])
            for i in range(n)]


class Phases:
    """CPU seconds of this process per named phase."""

    def __init__(self) -> None:
        self.totals: dict[str, float] = {}
        self._name = ""
        self._start = 0.0

    def __call__(self, name: str) -> Phases:
        self._name = name
        return self

    def __enter__(self) -> None:
        self._start = time.process_time()

    def __exit__(self, *exc: object) -> None:
        spent = time.process_time() - self._start
        self.totals[self._name] = self.totals.get(self._name, 0.0) + spent


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--txs", type=int, default=16_000)
    ap.add_argument("--block", type=int, default=2000)
    ap.add_argument("--quick", action="store_true", help="2,000 txs in blocks of 500")
    args = ap.parse_args(argv)
    if args.quick:
        args.txs, args.block = 2000, 500
    raws = signed_txs(args.txs)
    authority = keys.SigningKey(bytes([1]) * 32)
    genesis = {"chain_id": CHAIN_ID, "genesis_time_ms": 0, "app_state": {"version": 2, "identity": {
        "authorities": [{"did": authority.did, "name": "Bench",
                         "enc_key": keys.EncryptionKey(bytes([3]) * 32).public_key.hex()}]}}}
    phase = Phases()
    stage_phase = Phases()
    wall_start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStateStore(Path(tmp) / "state.db")
        app = new_application(store)
        app.init_chain(genesis)
        real_stage = store.stage

        def stage(height: int, changes: dict[bytes, bytes | None]) -> bytes:
            with stage_phase("stage"):
                return real_stage(height, changes)

        store.stage = stage  # type: ignore[method-assign]
        for height, at in enumerate(range(0, args.txs, args.block), start=1):
            block = raws[at:at + args.block]
            with phase("signature_job"):  # the node's part: decode, resolve the signer
                jobs = [app.signature_job(raw) for raw in block]
            for job in jobs:  # the verifier worker's part, not timed
                assert job is not None
                keys.verify(job[1], job[2], job[3])
                app.note_verified(job[0], job[1])
            with phase("admission"):
                results = [app.check_tx(raw) for raw in block]
            assert all(r.ok for r in results), results[0]
            with phase("execution"):
                app.finalize_block(BlockInfo(height, height * 1000), block)
            with phase("commit"):
                app.commit()
        store.close()
    wall = time.perf_counter() - wall_start
    per_tx = {name: round(1e6 * t / args.txs, 1)
              for name, t in {**phase.totals, **stage_phase.totals}.items()}
    node_us = round(sum(per_tx[k] for k in ("signature_job", "admission", "execution",
                                            "commit")), 1)
    print(f"{args.txs} txs in blocks of {args.block}, CPU µs per tx: signature job "
          f"{per_tx['signature_job']}, admission "
          f"{per_tx['admission']}, execution {per_tx['execution']} (tree update "
          f"{per_tx['stage']}), commit {per_tx['commit']}; node {node_us} "
          f"({accel.STATUS}; wall {wall:.1f} s)", file=sys.stderr)
    print(json.dumps({"bench": "hot_path", "txs": args.txs, "block": args.block,
                      "signature_job_us": per_tx["signature_job"],
                      "admission_us": per_tx["admission"], "execution_us": per_tx["execution"],
                      "stage_us": per_tx["stage"], "commit_us": per_tx["commit"],
                      "node_us": node_us, "node_tx_per_s": round(1e6 / node_us),
                      "hot_path": accel.STATUS}, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
