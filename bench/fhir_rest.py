"""Consented reads and searches through the FHIR REST facade, against a plain FastAPI
JSON read of the same resource in the same run.

A consortium (``tests/consortium.py``: a solo node, its API and three vaults on
loopback HTTP). ``--node-process`` (the default, the deployment shape): the node is
``phrchain start`` in its own OS process, as an institution runs it, and the vaults (in
this process) reach it over loopback HTTP through ``RemoteChain``, as ``phrchain vault
serve`` does: every read asks the node its height once (so the decision is at a height
committed after the request arrived), the audit sender submits the sealed entries and
the decision index reads new blocks' results over HTTP. ``--in-process``: the node, its
API and the vaults share this process (``LocalChain``), for comparison. The JSON says
which ran (``node``: ``process`` / ``in-process``). Hospital A imports one synthetic
patient's bundle
(``--resources``); the patient grants hospital B a read consent (TREAT, all records);
hospital B's backend-services token (private_key_jwt, Ed25519) then:

- **reads** ``GET /fhir/Observation/<id>`` cycling over the patient's Observations: the
  token check, the vault's audited access decision (``Vault.access``: ``consent/decide``
  at the latest height, sealed audit entry journaled with an fsync), the custodian's
  opened copy (``fhirapi/index.py``), references rewritten, JSON out;
- **searches** ``GET /fhir/Observation?patient=<id>&_count=20``: one page of 20, each
  resource decided and audited as a read is (21 decisions: a look-ahead one says
  whether a next page exists);
- **baseline**: ``GET /blob`` of a plain FastAPI app (uvicorn, same process) answering
  the same Observation's JSON from memory: what HTTP + JSON alone cost here.

Clients are threads of this process (one keep-alive connection each), ``--clients``
levels, ``--seconds`` each after ``--warmup``; the servers share the GIL with them, as
they share it with the baseline. Last line: ``{"bench": "fhir_rest", "node",
"reads_per_s", "searches_per_s", "baseline_per_s", "ratio"}`` (at the highest level;
ratio = reads ÷ baseline, goal >= 0.5) and per level ``c<N>``: rates and p50/p99 in ms,
and the CPU milliseconds per request (from /proc, so no profiler overhead), measured
from before the level to after its audit entries were flushed to the chain (committed):
``cpu_ms`` by thread group of this process (the vault's event loop and worker threads,
its audit sender; in-process also the node's block producer, API and helper processes)
and ``node process`` (the node's process with its helper processes, /proc/<pid>/stat of
each, node-process mode); ``node_cpu_ms_per_req`` (that; null in-process, where the
node's share is inside the next figure), ``vault_cpu_ms_per_req`` (every thread and
child process of this process but the clients), ``client_cpu_ms_per_req`` (the client
threads, each reading its own CPU clock). At the top level the reads' figures are also
``node_cpu_ms_per_read``, ``vault_cpu_ms_per_read``, ``client_cpu_ms_per_read``, beside
``baseline_cpu_ms_per_read`` (the baseline's server and clients).

``--profile``: yappi (the ``bench`` extra) over every thread during the reads of the
highest level, CPU time by function to stderr.

    python bench/fhir_rest.py [--clients 1,4] [--seconds 5] [--resources 60] [--quick]
                              [--node-process | --in-process] [--profile]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from _harness import cpu_snapshot, cpu_spent, pct, running, server_labels, thread_profiler
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from tests.consortium import HOSPITAL_B, P
from tests.fhirworld import backend_token, base_of, grant, import_patient

from phrchain.api.server import BackgroundServer


def _level(clients: int, seconds: float, make: Callable[[int], tuple[str, dict[str, str]]]
           ) -> dict[str, Any]:
    latencies: list[list[float]] = [[] for _ in range(clients)]
    failures: list[str] = []
    client_cpu: list[float] = []  # a client thread's CPU, read before it ends
    tids: list[int] = []  # theirs (an ended thread may linger in /proc: not the server's)
    stop = threading.Event()

    def worker(i: int) -> None:
        tids.append(threading.get_native_id())
        cpu0 = time.thread_time()
        try:
            _requests(i, latencies[i])
        finally:
            client_cpu.append(time.thread_time() - cpu0)

    def _requests(i: int, mine: list[float]) -> None:
        with httpx.Client(timeout=60) as http:
            n = 0
            while not stop.is_set():
                url, headers = make(i * 100_003 + n)
                t0 = time.perf_counter()
                answer = http.get(url, headers=headers)
                took = time.perf_counter() - t0
                if answer.status_code != 200:
                    failures.append(f"{url}: {answer.status_code} {answer.text[:300]}")
                    stop.set()
                    return
                mine.append(took)
                n += 1

    threads = [threading.Thread(target=worker, args=(i,), daemon=True, name="bench client")
               for i in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    deadline = time.monotonic() + 30  # a slow level still gets one sample per client
    time.sleep(seconds)
    while any(not per for per in latencies) and time.monotonic() < deadline \
            and not failures:
        time.sleep(0.05)
    stop.set()
    for t in threads:
        t.join(timeout=60)
    elapsed = time.perf_counter() - start
    if failures:
        raise SystemExit(failures[0])
    flat = [x for per in latencies for x in per]
    return {"per_s": round(len(flat) / elapsed, 1), "p50_ms": round(pct(flat, 50) * 1000, 2),
            "p99_ms": round(pct(flat, 99) * 1000, 2), "n": len(flat),
            "client_cpu_s": sum(client_cpu), "client_tids": tids}


def _measured(c: Any, clients: int, seconds: float,
              make: Callable[[int], tuple[str, dict[str, str]]], yappi: Any) -> dict[str, Any]:
    """One measured level of one kind, with the CPU ms per request of each thread group
    (the audit entries of the level flushed to the chain inside the window: a read's
    audit entry costs its share there); profiled when ``yappi`` is given."""
    c.flush()  # the warm-up's audit entries are not this level's
    before = cpu_snapshot()
    if yappi is not None:
        yappi.set_clock_type("cpu")
        yappi.start()
    level = _level(clients, seconds, make)
    if yappi is not None:
        yappi.stop()
        _print_profile(yappi)
    c.flush()
    after = cpu_snapshot()
    theirs = {f"#{tid}" for tid in level.pop("client_tids")}
    after = {k: v for k, v in after.items() if k[k.rfind("#"):] not in theirs}
    spent = cpu_spent(before, after, server_labels(after, c.node_pid))
    level["cpu_ms"] = {k: round(v * 1e3 / level["n"], 3) for k, v in sorted(
        spent.items(), key=lambda kv: -kv[1]) if v * 1e3 / level["n"] >= 0.01}
    node = spent.get("node process") if c.node_pid else None
    client = level.pop("client_cpu_s")  # the client threads ended: their CPU, as they read it
    spent.pop("bench client", None)
    level.update({
        "node_cpu_ms_per_req": None if node is None else round(node * 1e3 / level["n"], 3),
        "vault_cpu_ms_per_req": round((sum(spent.values()) - (node or 0.0))
                                      * 1e3 / level["n"], 3),
        "client_cpu_ms_per_req": round(client * 1e3 / level["n"], 3)})
    return level


def _print_profile(yappi: Any) -> None:
    """CPU time by function over every thread of this process, to stderr."""
    stats = yappi.get_func_stats()
    stats.sort("tsub", "desc")
    stats.print_all(out=sys.stderr, columns={0: ("name", 80), 1: ("ncall", 9),
                                             2: ("tsub", 8), 3: ("ttot", 8)})
    yappi.get_thread_stats().print_all(out=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", default="1,4")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--resources", type=int, default=60)
    parser.add_argument("--quick", action="store_true", help="a smoke run: about 15 s")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--node-process", dest="node_process", action="store_true",
                       default=True, help="the node in its own process, as deployed "
                       "(the default)")
    where.add_argument("--in-process", dest="node_process", action="store_false",
                       help="the node, its API and the vaults in this process")
    parser.add_argument("--profile", action="store_true",
                        help="yappi over every thread during the top level's reads")
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.warmup, args.resources = 0.5, 0.2, 45
    levels = [int(x) for x in args.clients.split(",")]
    yappi = thread_profiler() if args.profile else None
    with tempfile.TemporaryDirectory() as tmp, \
            running(Path(tmp), node_process=args.node_process) as c:
        world = import_patient(c, P, seed=5, resources=args.resources)
        grant(c, P, HOSPITAL_B, purposes=["TREAT"])
        base, pid = base_of(c), world["pid"]
        token = backend_token(c, HOSPITAL_B, "system/*.rs")
        auth = {"Authorization": f"Bearer {token}", "Accept": "application/fhir+json"}
        page = httpx.get(base + "Observation", params={"patient": pid, "_count": "100"},
                         headers=auth, timeout=60).json()
        ids = [e["resource"]["id"] for e in page["entry"]]
        if len(ids) < 20:
            raise SystemExit(f"only {len(ids)} Observations: raise --resources")
        blob = page["entry"][0]["resource"]
        plain = FastAPI()

        @plain.get("/blob")
        def read_blob() -> JSONResponse:
            return JSONResponse(blob, media_type="application/fhir+json")

        search_url = f"{base}Observation?patient={pid}&_count=20"
        kinds: dict[str, Callable[[int], tuple[str, dict[str, str]]]] = {
            "reads": lambda n: (f"{base}Observation/{ids[n % len(ids)]}", auth),
            "searches": lambda n: (search_url, auth)}
        out: dict[str, Any] = {"bench": "fhir_rest", "records": len(world["records"]),
                               "observations": len(ids), "cpus": os.cpu_count(),
                               "node": "process" if args.node_process else "in-process",
                               "load_1m": round(os.getloadavg()[0], 2)}
        with BackgroundServer(plain) as plain_url:
            kinds["baseline"] = lambda n: (f"{plain_url}/blob", {})
            for clients in levels:
                level: dict[str, Any] = {}
                for kind, make in kinds.items():
                    _level(clients, args.warmup, make)
                    level[kind] = _measured(c, clients, args.seconds, make, yappi if (
                        kind == "reads" and clients == max(levels)) else None)
                out[f"c{clients}"] = level
                print(json.dumps({f"c{clients}": level}), file=sys.stderr)
        top = out[f"c{max(levels)}"]
        out.update({"reads_per_s": top["reads"]["per_s"],
                    "searches_per_s": top["searches"]["per_s"],
                    "baseline_per_s": top["baseline"]["per_s"],
                    "ratio": round(top["reads"]["per_s"] / top["baseline"]["per_s"], 3),
                    "node_cpu_ms_per_read": top["reads"]["node_cpu_ms_per_req"],
                    "vault_cpu_ms_per_read": top["reads"]["vault_cpu_ms_per_req"],
                    "client_cpu_ms_per_read": top["reads"]["client_cpu_ms_per_req"],
                    "baseline_cpu_ms_per_read": round(
                        top["baseline"]["vault_cpu_ms_per_req"]
                        + top["baseline"]["client_cpu_ms_per_req"], 3),
                    "goal_ratio": 0.5, "load_1m_end": round(os.getloadavg()[0], 2)})
    print(json.dumps(out))


if __name__ == "__main__":
    main()
