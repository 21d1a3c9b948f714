"""What the solo-node benches share (``bench/claims.py``, ``bench/trials.py``)."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

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


def cpu_seconds() -> float:
    """CPU seconds used so far by this process and its live child processes (the node's
    verifier and state writer): what a wall-clock figure measures, less moved by other
    load on a shared machine (Linux ``/proc``; without it, this process only)."""
    total = time.process_time()
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    me = str(os.getpid())
    try:
        pids = [p for p in os.listdir("/proc") if p.isdigit()]
    except OSError:
        return total
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[1] == me:  # ppid; then utime, stime at 11, 12
            total += (int(fields[11]) + int(fields[12])) / tick
    return total
