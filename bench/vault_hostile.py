"""A vault under hostile and idle load (issue 13, defects 1 and 7): memory and refusal
latency against big unsigned POSTs, and the CPU an idle vault spends with many records.

1. ``--posts`` unsigned ``POST /v1/vault/batch`` of ``--mib`` MiB each (declared
   ``Content-Length``) from a separate process over loopback, one after another. Each
   sender streams the body until the vault answers or closes, and notes the time from
   the end of its headers to the answer's status line and how much of the body it got
   to send. The vault (hospital A of ``tests/consortium.py``, in this process) reports
   its RSS before and after, and its peak RSS in between (``VmHWM``, reset first).
2. A vault (``VaultConfig`` defaults: sync every 2 s) holding ``--records`` records
   (sealed in its store directly: quick; their ids are not on chain, so a per-record
   ``records/get`` costs the node a state read that misses, as a hit would), talking to
   its node over the node's REST API as ``phrchain vault serve`` does (``RemoteChain``;
   ``--local`` for the in-process ``LocalChain``), runs idle for ``--idle`` seconds
   after its first sync; the CPU seconds this process spent meanwhile (vault, node and
   API threads all live in it) are the idle cost.

Run it against an older checkout to compare: ``PYTHONPATH=<old>/src python
bench/vault_hostile.py`` (it only uses names that existed before). Everything is
bounded (``--posts`` times ``--mib``, ``--idle``) and listens on 127.0.0.1 only. Last line:
``{"bench": "vault_hostile", "rss_before_mb", "rss_after_mb", "rss_peak_mb",
"refusal_ms_p50", "refusal_ms_max", "sent_mib_max", "records", "idle_s",
"idle_cpu_s", "idle_cpu_pct"}``.

    python bench/vault_hostile.py [--posts 10] [--mib 100] [--records 3000] [--idle 20]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import secrets
import select
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from _harness import running
from tests.consortium import HOSPITAL_A, P

from phrchain.client.http import NodeClient
from phrchain.gateway.chain import LocalChain, RemoteChain
from phrchain.gateway.service import Vault, VaultConfig
from phrchain.vault import crypto

MIB = 1 << 20


def rss_mb(field: str = "VmRSS") -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def reset_peak() -> None:
    try:
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM (Linux >= 4.0)
    except OSError:
        pass


def cpu_s() -> float:
    t = os.times()
    return t.user + t.system


def hostile_post(host: str, port: int, mib: int) -> tuple[float, int, bytes]:
    """One unsigned POST: (seconds from headers to answer, bytes of body sent, status
    line). Sends until the vault answers, closes, or the body is all sent."""
    chunk = b"\0" * MIB
    total, sent = mib * MIB, 0
    with socket.create_connection((host, port), timeout=120) as s:
        s.sendall(f"POST /v1/vault/batch HTTP/1.1\r\nHost: {host}\r\nContent-Length: "
                  f"{total}\r\nContent-Type: application/octet-stream\r\n\r\n".encode())
        t0 = time.perf_counter()
        s.setblocking(False)
        answer = b""
        deadline = t0 + 120
        while b"\r\n" not in answer and time.perf_counter() < deadline:
            want_write = [s] if sent < total else []
            readable, writable, _ = select.select([s], want_write, [], 1.0)
            if readable:
                try:
                    data = s.recv(4096)
                except (ConnectionResetError, BlockingIOError):
                    data = b""
                if not data:
                    break
                answer += data
            elif writable:
                try:
                    sent += s.send(chunk[: min(MIB, total - sent)])
                except (BrokenPipeError, ConnectionResetError):
                    want_write = []
                    sent = total
        return time.perf_counter() - t0, sent, answer.split(b"\r\n", 1)[0]


def attacker(url: str, posts: int, mib: int, out: Any) -> None:
    parts = urlsplit(url)
    assert parts.hostname == "127.0.0.1" and parts.port is not None
    out.put([hostile_post(parts.hostname, parts.port, mib) for _ in range(posts)])


def hostile(args: argparse.Namespace, url: str) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    before = rss_mb()
    reset_peak()
    sender = ctx.Process(target=attacker, args=(url, args.posts, args.mib, out))
    sender.start()
    results = out.get(timeout=args.posts * 130)
    sender.join(timeout=10)
    peak, after = rss_mb("VmHWM"), rss_mb()
    latencies = [r[0] * 1000 for r in results]
    statuses = sorted({r[2].decode(errors="replace") for r in results})
    print(f"{args.posts} unsigned POSTs of {args.mib} MiB: answers {statuses}")
    print(f"  refusal latency p50 {statistics.median(latencies):.1f} ms, "
          f"max {max(latencies):.1f} ms; body sent at most {max(r[1] for r in results) / MIB:.1f}"
          f" MiB of {args.mib}")
    print(f"  vault process RSS before {before:.0f} MB, peak {peak:.0f} MB, after {after:.0f} MB")
    return {"rss_before_mb": round(before), "rss_after_mb": round(after),
            "rss_peak_mb": round(peak), "refusal_ms_p50": round(statistics.median(latencies), 1),
            "refusal_ms_max": round(max(latencies), 1),
            "sent_mib_max": round(max(r[1] for r in results) / MIB, 1)}


def idle(args: argparse.Namespace, c: Any) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp, NodeClient(c.api_url, timeout=120) as node:
        chain = LocalChain(c.node) if args.local else RemoteChain(node)
        vault = Vault(VaultConfig(Path(tmp) / "idle-vault"), chain,
                      HOSPITAL_A.signing_key, HOSPITAL_A.encryption_key)
        try:
            t0 = time.perf_counter()
            for _ in range(args.records):
                rid = secrets.token_bytes(16)
                sealed = crypto.seal(rid, P.did, b"{}")
                vault.store.put(sealed.meta, sealed.chunks, {HOSPITAL_A.did: crypto.wrap_key(
                    sealed.data_key, HOSPITAL_A.enc_key, rid, HOSPITAL_A.did)})
            made = time.perf_counter() - t0
            t0 = time.perf_counter()
            vault.sync_erasures()  # the first sync (a scan where there is no saved height)
            first = time.perf_counter() - t0
            vault.start()
            time.sleep(1.0)
            cpu0, wall0 = cpu_s(), time.perf_counter()
            time.sleep(args.idle)
            spent, wall = cpu_s() - cpu0, time.perf_counter() - wall0
        finally:
            vault.close()
    kind = "LocalChain" if args.local else "RemoteChain"
    print(f"idle vault ({kind}) with {args.records} records (made in {made:.1f} s; first sync "
          f"{first * 1000:.0f} ms): {spent:.2f} CPU s in {wall:.1f} s = "
          f"{100 * spent / wall:.1f} % of one core (vault + node + API, one process)")
    return {"records": args.records, "idle_s": round(wall, 1), "idle_cpu_s": round(spent, 2),
            "idle_cpu_pct": round(100 * spent / wall, 1),
            "chain": "local" if args.local else "remote", "first_sync_ms": round(first * 1000)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--posts", type=int, default=10)
    parser.add_argument("--mib", type=int, default=100)
    parser.add_argument("--records", type=int, default=3000)
    parser.add_argument("--idle", type=float, default=20.0)
    parser.add_argument("--local", action="store_true",
                        help="the idle vault reaches its node in-process (LocalChain)")
    parser.add_argument("--quick", action="store_true",
                        help="2 posts of 8 MiB, 100 records, 2 s idle")
    args = parser.parse_args()
    if args.quick:
        args.posts, args.mib, args.records, args.idle = 2, 8, 100, 2.0
    if not (0 < args.posts <= 100 and 0 < args.mib <= 1024 and 0 < args.idle <= 120
            and 0 <= args.records <= 100_000):
        sys.exit("bounded runs only: posts <= 100, mib <= 1024, idle <= 120 s, "
                 "records <= 100000")
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, load "
          f"{os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as tmp, running(Path(tmp)) as c:
        figures = hostile(args, c.directory[HOSPITAL_A.did])
        figures.update(idle(args, c))
    print(json.dumps({"bench": "vault_hostile", **figures}))


if __name__ == "__main__":
    main()
