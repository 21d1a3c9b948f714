"""What the solo-node benches share (``bench/claims.py``, ``bench/trials.py``)."""

from __future__ import annotations

import threading
import time

from phrchain.core.tx import tx_hash
from phrchain.engine.solo.node import SoloNode


def submit(node: SoloNode, raws: list[bytes], chunk: int, clients: int) -> float:
    """Submit ``raws`` in chunks from ``clients`` threads, wait until all are committed
    and succeeded; return the wall time."""
    chunks = [raws[i:i + chunk] for i in range(0, len(raws), chunk)]
    refused: list[str] = []

    def client(mine: list[list[bytes]]) -> None:
        for txs in mine:
            refused.extend(r.log for r in node.submit_many(txs) if not r.ok)

    threads = [threading.Thread(target=client, args=(chunks[k::clients],))
               for k in range(clients)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if refused:
        raise SystemExit(f"{len(refused)} txs refused at admission, e.g. {refused[0]}")
    status = [node.wait_committed(tx_hash(c[-1]), timeout=600) for c in chunks]
    elapsed = time.perf_counter() - start
    bad = [s for s in status if s["status"] != "committed"]
    if bad:
        raise SystemExit(f"not committed: {bad[0]}")
    failed = [s for raw in raws if (s := node.tx_status(tx_hash(raw)))["result"]["code"]]
    if failed:
        raise SystemExit(f"{len(failed)} txs failed in their block, e.g. {failed[0]}")
    return elapsed
