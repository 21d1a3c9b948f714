"""Latency of one vault access under concurrent clients, and where its time goes.

One access = a signed ``GET /v1/vault/records/<id>`` over loopback HTTP to a vault
served by uvicorn: signature check (caller's current key looked up on chain) → decision
at the latest height (``consent/decide``) → nonce and audit entry journalled durably
(SQLite WAL, ``synchronous=FULL``: one fsync) → ciphertext and the caller's wrapped key
released. ``--node-process`` (the default, as an institution deploys it): the node runs
``phrchain start`` in its own OS process and the vault reaches it over loopback HTTP
(``RemoteChain``, as ``phrchain vault serve`` does); its CPU, with its helper
processes', is reported per access beside the vault process's (``node_cpu_ms_per_access``,
``vault_cpu_ms_per_access``; JSON key ``node``: ``process``). ``--in-process``: the vault
runs in its node's process (``LocalChain``), next to the node's API and block producer
(``tests/consortium.py``); either way the node commits the vault's audit batches while
the bench runs.

Records: ``--records`` of 1 KiB per patient (P and Q), stored and registered by a
practitioner of hospital A before the clock starts; P's standing consent lets B1 read.
Callers cycle through: owner reads (60 %), consented reads (30 %), a practitioner of
the same hospital without consent (10 %, denied and audited).

Client threads run in a separate process (so their Python does not share the vault's
GIL); each has its own keep-alive connection. Per concurrency level: ``--warmup``
seconds discarded, then ``--seconds`` measured. The per-caller rate limit is raised so
that the bench measures latency, not the limiter (whose bookkeeping still runs).

Per level, the CPU spent per access by each thread of the vault's process and by the
node's helper processes (from /proc, so no profiler overhead), and by the load process.
Then ``--breakdown`` serial accesses in the vault's process with timers around each
step, interleaved with the same access over HTTP, and a bare SQLite WAL
``synchronous=FULL`` commit on the same disk before and after the levels (the fsync
baseline). ``--profile``: yappi over every thread during the ``--main`` level, cProfile
over the serial accesses (both to stderr). Last line: ``{"bench": "vault_access",
"p50_ms": …, "p99_ms": …}`` for ``--main`` clients, other levels as extra keys.

    python bench/vault_access.py [--clients 1,4,16] [--main 4] [--seconds 8] [--profile]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from _harness import (
    Timers,
    cpu_snapshot,
    cpu_spent,
    pct,
    running,
    server_labels,
    thread_profiler,
)

from phrchain.client.http import ApiError
from phrchain.client.vault import VaultClient
from phrchain.client.wallet import Wallet
from phrchain.core.errors import CodedError
from phrchain.gateway.service import Vault
from phrchain.vault.gateway_errors import ACCESS_DENIED
from phrchain.vault.requests import sign_request

RECORD_BYTES = 1024
DAY_MS = 86_400_000
MIX = ("owner",) * 6 + ("consent",) * 3 + ("deny",)

# --- load generator (runs in its own process) ------------------------------------------


def _client_thread(clients: list[tuple[VaultClient, list[str]]], start_at: float,
                   measure_at: float, stop_at: float, out: list[tuple[float, str, bool]],
                   totals: list[int]) -> None:
    i = 0
    while time.time() < start_at:
        time.sleep(0.001)
    while True:
        now = time.time()
        if now >= stop_at:
            break
        k = i % len(clients)
        client, records = clients[k]
        record = records[(i // len(clients)) % len(records)]
        t0 = time.perf_counter()
        try:
            client.access(record, "read", "TREAT")
            permit = True
        except ApiError as exc:
            if exc.code != ACCESS_DENIED.code:
                raise
            permit = False
        elapsed = time.perf_counter() - t0
        if now >= measure_at:
            out.append((elapsed, MIX[k], permit))
        i += 1
    totals.append(i)


def load_process(spec: dict[str, Any], conn: Any) -> None:
    """Run ``spec["threads"]`` client threads; send back (seconds, kind, permitted)."""
    import tests.consortium

    wallets = {name: getattr(tests.consortium, name) for name in ("P", "Q", "B1", "A2")}
    results: list[list[tuple[float, str, bool]]] = []
    plans, https = [], []
    for t in range(spec["threads"]):  # one keep-alive connection per thread
        http = httpx.Client(base_url=spec["url"], timeout=60)
        https.append(http)
        plans.append([(VaultClient(spec["url"], spec["vault"], wallets[w], client=http),
                       _rotated(spec["records"][r], 7 * t)) for w, r in spec["plans"][t]])
    start_at = time.time() + 0.2
    measure_at = start_at + spec["warmup"]
    stop_at = measure_at + spec["seconds"]
    threads = []
    totals: list[int] = []
    for plan in plans:
        out: list[tuple[float, str, bool]] = []
        results.append(out)
        threads.append(threading.Thread(target=_client_thread, args=(
            plan, start_at, measure_at, stop_at, out, totals)))
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    for http in https:
        http.close()
    conn.send(([x for out in results for x in out], sum(totals), time.process_time()))
    conn.close()


def _rotated(items: list[str], k: int) -> list[str]:
    k %= len(items)
    return items[k:] + items[:k]


def run_level(spec: dict[str, Any], node_pid: int | None = None
              ) -> tuple[list[tuple[float, str, bool]], dict[str, float]]:
    """Samples, and CPU milliseconds per request by thread group (and the clients')."""
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=load_process, args=(spec, child))
    before = cpu_snapshot()
    proc.start()
    samples, total, client_cpu = parent.recv()
    after = cpu_snapshot()
    proc.join()
    if proc.exitcode != 0:
        raise SystemExit(f"load process failed with exit code {proc.exitcode}")
    load_child = f"#{proc.pid}"
    cpu = {k: v * 1e3 / total for k, v in cpu_spent(
        {k: v for k, v in before.items() if not k.endswith(load_child)},
        {k: v for k, v in after.items() if not k.endswith(load_child)},
        server_labels(after, node_pid)).items()}
    cpu["client process (sign, HTTP, JSON)"] = client_cpu * 1e3 / total
    return samples, cpu


# --- figures --------------------------------------------------------------------------


def fsync_baseline(directory: Path, n: int) -> dict[str, float]:
    """A bare small-row commit in SQLite WAL mode with ``synchronous=FULL``."""
    db = sqlite3.connect(directory / "fsync-baseline.sqlite3", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("DROP TABLE IF EXISTS t")
    db.execute("CREATE TABLE t (k TEXT PRIMARY KEY, v BLOB)")
    times = []
    for i in range(n):
        t0 = time.perf_counter()
        db.execute("BEGIN IMMEDIATE")
        db.execute("INSERT INTO t VALUES (?, ?)", (f"{i:032x}", bytes(300)))
        db.execute("COMMIT")
        times.append(time.perf_counter() - t0)
    db.close()
    return {"p50_ms": pct(times, 50) * 1e3, "p99_ms": pct(times, 99) * 1e3,
            "mean_ms": statistics.fmean(times) * 1e3}


def print_yappi(yappi: Any, out: Any) -> None:
    """CPU time by function over every thread of this process, and by thread."""
    stats = yappi.get_func_stats()
    stats.sort("tsub", "desc")
    stats.print_all(out=out, columns={0: ("name", 70), 1: ("ncall", 9), 2: ("tsub", 8),
                                      3: ("ttot", 8), 4: ("tavg", 8)})
    yappi.get_thread_stats().print_all(out=out)


def breakdown(vault: Vault, url: str, calls: list[tuple[Wallet, str]], profile: bool
              ) -> dict[str, dict[str, float]]:
    """Serial in-process accesses (no HTTP), each step timed, interleaved with the same
    access over HTTP from this process, so that both see the same disk."""
    from phrchain.vault import audit_seal
    from phrchain.vault import requests as vault_requests

    timers = Timers()
    timers.wrap(vault, "_current_key", "key lookup (identity/did query)")
    timers.wrap(vault, "_chain", lambda path, _data: f"query {path}")
    timers.wrap(vault.journal, "accept", "journal (nonce + audit, fsync)")
    timers.wrap(audit_seal, "seal", "seal the audit entry (AES-GCM + HPKE wraps)")
    timers.wrap(vault.store, "get_held", "blob store: meta + descriptor")
    timers.wrap(vault.store, "get_key_and_chunks", "blob store: wrapped key + chunks")
    timers.wrap(vault.sender, "poke", "sender poke")
    timers.wrap(vault_requests.keys, "verify", "Ed25519 verify")
    profiler = None
    if profile:  # profilers are imported only under --profile
        import cProfile

        profiler = cProfile.Profile()
    http = httpx.Client(base_url=url, timeout=60)
    over_http = {w.did: VaultClient(url, vault.org, w, client=http) for w, _ in calls}
    try:
        for i, (who, record) in enumerate(calls):
            with timers.time("over HTTP (serial, same process)"):
                try:
                    over_http[who.did].access(record, "read", "TREAT")
                except ApiError as exc:
                    if exc.code != ACCESS_DENIED.code:
                        raise
            path = f"/v1/vault/records/{record}"
            params = {"action": "read", "purpose": "TREAT"}
            with timers.time("client: sign request"):
                headers = sign_request(who.signing_key, who.did, vault.org, "GET", path,
                                       params, b"", time.time_ns() // 1_000_000)
            if profiler and i >= len(calls) // 10:
                profiler.enable()
            with timers.time("total in-process"):
                with timers.time("authenticate"):
                    req = vault.authenticate(headers, "GET", path, params, b"")
                with timers.time("access"):
                    try:
                        vault.access(req, record, "read", "TREAT")
                    except CodedError as exc:  # the vault refuses with a VaultError
                        if exc.error is not ACCESS_DENIED:
                            raise
            if profiler:
                profiler.disable()
    finally:
        timers.restore()
        http.close()
    if profiler:
        import pstats

        pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative").print_stats(30)
    skip = len(calls) // 10  # warm-up
    return {name: {"mean_us": statistics.fmean(v[skip:]) * 1e6,
                   "p50_us": pct(v[skip:], 50) * 1e6, "p99_us": pct(v[skip:], 99) * 1e6}
            for name, v in timers.spent.items() if len(v) > skip}


# --- set-up ---------------------------------------------------------------------------


def setup(c: Any, n_records: int) -> dict[str, list[str]]:
    from tests.consortium import A1, B1, P, Q

    now = time.time_ns() // 1_000_000
    c.client(P).consent.grant({"kind": "practitioner", "id": B1.did}, actions=["read"],
                              scope={"all": True}, purposes=["TREAT"], start_ms=now - 1000,
                              end_ms=now + DAY_MS, share_existing=False)
    author = c.client(A1)
    out = {}
    for name, patient in (("P", P), ("Q", Q)):
        prepared = [author.records.prepare(bytes([i % 256]) * RECORD_BYTES, patient.did,
                                           resource="Observation", category="laboratory")
                    for i in range(n_records)]
        out[name] = author.records.store(prepared)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", default="1,4,16", help="concurrency levels")
    parser.add_argument("--main", type=int, default=4, help="level for p50_ms/p99_ms")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--warmup", type=float, default=1.5)
    parser.add_argument("--records", type=int, default=100, help="per patient")
    parser.add_argument("--breakdown", type=int, default=600)
    parser.add_argument("--fsync", type=int, default=400)
    parser.add_argument("--profile", action="store_true",
                        help="yappi over every thread (the bench extra: pip install -e "
                             "'.[bench]'), cProfile over the serial accesses; to stderr")
    parser.add_argument("--dir", default=None, help="where the node and vaults live")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--node-process", dest="node_process", action="store_true",
                       default=True, help="the node in its own process, as deployed "
                       "(the default)")
    where.add_argument("--in-process", dest="node_process", action="store_false",
                       help="the node, its API and the vault in this process")
    parser.add_argument("--quick", action="store_true",
                        help="1 and 4 clients for 1 s each, 10 records, 60 serial accesses")
    args = parser.parse_args()
    if args.quick:
        args.clients, args.main, args.seconds, args.warmup = "1,4", 4, 1.0, 0.3
        args.records, args.breakdown, args.fsync = 10, 60, 40
    levels = [int(x) for x in args.clients.split(",")]
    yappi = thread_profiler() if args.profile else None

    from tests.consortium import A2, B1, HOSPITAL_A, P

    roles = {"owner": None, "consent": ("B1", "P"), "deny": ("A2", "P")}
    t_start = time.perf_counter()
    load_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp, \
            running(Path(tmp), node_process=args.node_process) as c:
        vault = c.vaults[HOSPITAL_A.did]
        vault.config.rate_per_s, vault.config.burst = 1e9, 10**9
        records = setup(c, args.records)
        c.flush()
        setup_s = time.perf_counter() - t_start
        fsync = [fsync_baseline(Path(tmp), args.fsync)]
        results: dict[int, list[tuple[float, str, bool]]] = {}
        cpu: dict[int, dict[str, float]] = {}
        for n in levels:
            plans = []
            for t in range(n):
                owner = "P" if t % 2 == 0 else "Q"
                plan = []
                for kind in MIX:
                    who, rec = roles[kind] or (owner, owner)
                    plan.append((who, rec))
                plans.append(plan)
            spec = {"url": c.directory[HOSPITAL_A.did], "vault": HOSPITAL_A.did,
                    "threads": n, "warmup": args.warmup, "seconds": args.seconds,
                    "plans": plans, "records": records}
            if yappi and n == args.main:
                yappi.set_clock_type("cpu")
                yappi.start()
            results[n], cpu[n] = run_level(spec, c.node_pid)
            if yappi and n == args.main:
                yappi.stop()
                print_yappi(yappi, sys.stderr)
            c.flush()
        backlog = vault.journal.backlog()
        caller = {"owner": P, "consent": B1, "deny": A2}
        calls = [(caller[MIX[i % len(MIX)]], records["P"][i % len(records["P"])])
                 for i in range(args.breakdown)]
        parts = breakdown(vault, c.directory[HOSPITAL_A.did], calls, args.profile)
        fsync.append(fsync_baseline(Path(tmp), args.fsync))
    total_s = time.perf_counter() - t_start
    report(args, levels, results, cpu, parts, fsync, backlog, setup_s, total_s,
           (load_start, os.getloadavg()[0]))


def report(args: argparse.Namespace, levels: list[int],
           results: dict[int, list[tuple[float, str, bool]]], cpu: dict[int, dict[str, float]],
           parts: dict[str, dict[str, float]], fsync: list[dict[str, float]], backlog: int,
           setup_s: float, total_s: float, load: tuple[float, float]) -> None:
    out: dict[str, Any] = {"bench": "vault_access",
                           "node": "process" if args.node_process else "in-process"}
    print(f"{'clients':>7} {'requests':>9} {'req/s':>8} {'p50 ms':>8} {'p90 ms':>8} "
          f"{'p99 ms':>8} {'max ms':>8} {'deny %':>7} {'p99 permit':>10} {'p99 deny':>9}")
    for n in levels:
        samples = results[n]
        lat = [s for s, _, _ in samples]
        permit = [s for s, _, p in samples if p]
        deny = [s for s, _, p in samples if not p]
        row = {"p50_ms": pct(lat, 50) * 1e3, "p90_ms": pct(lat, 90) * 1e3,
               "p99_ms": pct(lat, 99) * 1e3, "max_ms": max(lat) * 1e3,
               "req_per_s": len(lat) / args.seconds}
        print(f"{n:>7} {len(lat):>9} {row['req_per_s']:>8.0f} {row['p50_ms']:>8.2f} "
              f"{row['p90_ms']:>8.2f} {row['p99_ms']:>8.2f} {row['max_ms']:>8.1f} "
              f"{100 * len(deny) / len(lat):>7.1f} {pct(permit, 99) * 1e3:>10.2f} "
              f"{pct(deny, 99) * 1e3 if deny else 0:>9.2f}")
        if n == args.main:
            out.update({"p50_ms": round(row["p50_ms"], 3), "p99_ms": round(row["p99_ms"], 3),
                        "clients": n, "req_per_s": round(row["req_per_s"])})
        out[f"c{n}"] = {k: round(v, 3) for k, v in row.items()}
        node = cpu[n].get("node process")
        out[f"c{n}"].update({
            "node_cpu_ms_per_access": None if node is None else round(node, 3),
            "vault_cpu_ms_per_access": round(sum(
                v for k, v in cpu[n].items()
                if k != "node process" and not k.startswith("client")), 3)})
    print("\nCPU ms per access by thread of the vault's process and by the node's helper "
          "processes (from /proc, whole level incl. warm-up):")
    groups = sorted({g for n in levels for g in cpu[n]}, key=lambda g: -cpu[levels[-1]].get(g, 0))
    print(f"  {'thread':<36}" + "".join(f" {str(n) + ' clients':>11}" for n in levels))
    for g in groups:
        if max(cpu[n].get(g, 0) for n in levels) >= 0.01:
            print(f"  {g:<36}" + "".join(f" {cpu[n].get(g, 0):>11.2f}" for n in levels))
    print(f"  {'vault + node total':<36}" + "".join(
        f" {sum(v for k, v in cpu[n].items() if not k.startswith('client')):>11.2f}"
        for n in levels))
    out["cpu_ms_per_access"] = {f"c{n}": {k: round(v, 3) for k, v in cpu[n].items()
                                          if v >= 0.01} for n in levels}
    http_us = parts["over HTTP (serial, same process)"]["p50_us"] \
        - parts["total in-process"]["p50_us"] - parts["client: sign request"]["p50_us"]
    print("\nserial breakdown per access (vault's process; steps nest: 'total in-process' ="
          " authenticate + access):")
    print(f"  {'step':<36} {'mean us':>9} {'p50 us':>9} {'p99 us':>9}")
    for name, v in sorted(parts.items(), key=lambda kv: -kv[1]["mean_us"]):
        print(f"  {name:<36} {v['mean_us']:>9.0f} {v['p50_us']:>9.0f} {v['p99_us']:>9.0f}")
    print(f"  {'=> HTTP+JSON+client (p50 difference)':<36} {'':>9} {http_us:>9.0f}")
    for when, f in zip(("before", "after"), fsync, strict=False):
        print(f"bare SQLite WAL synchronous=FULL commit, same disk, {when} the levels: "
              f"p50 {f['p50_ms']:.2f} ms, p99 {f['p99_ms']:.2f} ms, mean {f['mean_ms']:.2f} ms")
    print(f"audit outbox backlog after the run: {backlog}; set-up {setup_s:.1f} s, "
          f"whole run {total_s:.1f} s; load average (1 min) {load[0]:.1f} at start, "
          f"{load[1]:.1f} at end on {os.cpu_count()} cores")
    out["breakdown_p50_us"] = {k: round(v["p50_us"]) for k, v in parts.items()}
    out["breakdown_p50_us"]["http_json_client"] = round(http_us)
    out["fsync_baseline_p50_ms"] = [round(f["p50_ms"], 3) for f in fsync]
    out["fsync_baseline_p99_ms"] = [round(f["p99_ms"], 3) for f in fsync]
    out["loadavg_1m"] = [round(x, 1) for x in load]
    out["target_p99_ms"] = 5.0
    out["run_s"] = round(total_s, 1)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
