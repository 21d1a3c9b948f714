"""FHIR import throughput and on-chain bytes per record.

Generates ``--patients`` synthetic patients (``phrchain.fhir.synthetic``, seed
``--seed``, ``--resources`` Bundle entries each; not timed), registers a patient
identity for each, then times ``RecordsClient.import_bundle`` by hospital A for
Bundles of ``--per-bundle`` patients: validate + split (``split_bundle``), seal and
wrap keys and seal each record's descriptor (``prepare``), upload to the vault
(``/v1/vault/batch``) with the register messages; the hospital's vault registers them,
32 to a tx signed by the hospital (v2: sealed descriptors, size buckets), and the
client waits until they are committed. A solo node (block interval
``--block-ms``), its REST API and the vaults run in this process on loopback HTTP
(``tests/consortium.py``).

``resources_per_s`` counts the resources that became records (each Patient and the
resources in its compartment); ``entries_per_s`` also counts the shared Organization and
Practitioner entries, which are validated but belong to no patient. Where the time goes:
wall time per phase of the importing thread (timers around the SDK's steps), CPU per
record of every thread and helper process (from /proc), and with ``--profile`` yappi
over every thread (stderr).

On-chain bytes, from the node's SQLite files after the import (read-only connections):

* ``onchain_bytes_per_record``: bytes of the raw txs stored in blocks during the import
  (``txs.raw``) ÷ records registered — what every node keeps forever per record;
* ``block_result_bytes_per_record``, ``block_header_bytes_per_record``: the rest of the
  block store rows (tx results, signed headers) per record;
* ``state_value_bytes_per_record``: key + value bytes of the ``records/`` rows written;
* ``state_tree_bytes_per_record``: sparse-Merkle node rows written (version, hash, body);
* ``*_file_growth_per_record``: growth of ``page_count * page_size`` of each database.

Record-size independence: ``--doc-records`` DocumentReference records with a 1 KiB and
then a 100 KiB attachment are imported the same way and their tx bytes per record
compared. Last line: ``{"bench": "ingest", "resources_per_s": …,
"onchain_bytes_per_record": …}``.

Sealing (AES-GCM, commitment, HPKE wraps, sealed descriptor) runs in the SDK's pool of
worker processes (``vault/bulk.py``), started in the untimed warm-up as a long-lived
importer would; ``--serial`` seals in the importing process (the reference path).
``--cli N`` then imports N more Bundles the way users do, with ``phrchain records
import`` processes: one per Bundle file, then all the files in one run
(``cli_resources_per_s``, ``cli_one_run_resources_per_s``).

    python bench/ingest.py [--quick] [--patients 200] [--serial] [--cli N] [--profile]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import sqlite3
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from _harness import Timers, cpu_snapshot, cpu_spent, running, server_labels, thread_profiler

import phrchain.fhir.bundle as fhir_bundle
from phrchain.client.phr import Phr
from phrchain.client.wallet import Wallet
from phrchain.core.tx import build_tx, decode_tx, tx_hash
from phrchain.fhir.synthetic import generate_bundle, generate_patients
from phrchain.modules.identity.messages import RegisterPatient
from phrchain.vault import bulk, crypto


def patient_wallet(i: int) -> Wallet:
    return Wallet.from_secrets((1_000_000 + i).to_bytes(32, "big"),
                               (2_000_000 + i).to_bytes(32, "big"), f"patient {i}")


def register_patients(c: Any, wallets: list[Wallet]) -> None:
    chain_id = c.node.app.chain_id
    raws = [build_tx(w.signing_key, chain_id, 1, [RegisterPatient(w.enc_key).to_msg()])
            for w in wallets]
    for i in range(0, len(raws), 500):
        bad = [r.log for r in c.node.submit_many(raws[i:i + 500]) if not r.ok]
        if bad:
            raise SystemExit(f"patient registration refused: {bad[0]}")
    for raw in raws[-1:]:
        status = c.node.wait_committed(tx_hash(raw), 60)
        assert status["status"] == "committed", status


def merged(bundles: list[dict[str, Any]]) -> dict[str, Any]:
    """Several patients' Bundles as one (what a bulk export of many patients looks like)."""
    return {"resourceType": "Bundle", "type": bundles[0]["type"],
            "entry": [e for b in bundles for e in b["entry"]]}


def patient_id(bundle: dict[str, Any]) -> str:
    return next(str(e["resource"]["id"]) for e in bundle["entry"]
                if e["resource"]["resourceType"] == "Patient")


def document_bundle(seed: int, index: int, count: int, attachment: int) -> dict[str, Any]:
    """A patient with ``count`` DocumentReferences carrying ``attachment`` bytes each."""
    bundle = generate_bundle(seed, index, resources=4)
    patient_url = next(e["fullUrl"] for e in bundle["entry"]
                       if e["resource"]["resourceType"] == "Patient")
    rng = random.Random(f"ingest/documents/{seed}/{index}")
    for _ in range(count):
        rid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        data = base64.b64encode(rng.randbytes(attachment * 3 // 4)).decode()
        bundle["entry"].append({
            "fullUrl": f"urn:uuid:{rid}",
            "resource": {"resourceType": "DocumentReference", "id": rid, "status": "current",
                         "subject": {"reference": patient_url},
                         "content": [{"attachment": {"contentType": "text/plain",
                                                     "data": data}}]},
            "request": {"method": "POST", "url": "DocumentReference"}})
    return bundle


# --- on-chain bytes --------------------------------------------------------------------


def _ro(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True)


def db_bytes(path: Path) -> int:
    with _ro(path) as db:
        return int(db.execute("PRAGMA page_count").fetchone()[0]
                   * db.execute("PRAGMA page_size").fetchone()[0])


def chain_bytes(home: Path, after: int) -> dict[str, int]:
    """Bytes the node stored for blocks above height ``after``."""
    data = home / "data"
    with _ro(data / "blocks.db") as db:
        rows = db.execute("SELECT raw, LENGTH(result) FROM txs WHERE height > ?",
                          (after,)).fetchall()
        header = db.execute("SELECT COALESCE(SUM(LENGTH(header)), 0), COUNT(*) FROM blocks "
                            "WHERE height > ?", (after,)).fetchone()
    registered = sum(1 for raw, _ in rows for m in decode_tx(bytes(raw)).msgs
                     if m["type"] == "records/register")
    with _ro(data / "state.db") as db:
        kv = db.execute("SELECT COALESCE(SUM(LENGTH(key) + LENGTH(value) + 8), 0) FROM kv "
                        "WHERE height > ? AND key >= ? AND key < ?",
                        (after, b"records/", b"records0")).fetchone()[0]
        kv_all = db.execute("SELECT COALESCE(SUM(LENGTH(key) + LENGTH(value) + 8), 0) FROM "
                            "kv WHERE height > ?", (after,)).fetchone()[0]
        nodes = db.execute("SELECT COALESCE(SUM(LENGTH(hash) + LENGTH(body) + 8), 0) FROM "
                           "nodes WHERE version > ?", (after,)).fetchone()[0]
    return {"records": registered, "txs": len(rows), "blocks": header[1],
            "tx_raw": sum(len(raw) for raw, _ in rows),
            "tx_result": sum(n for _, n in rows), "headers": header[0],
            "state_records_kv": kv, "state_kv": kv_all, "state_nodes": nodes}


def key_prefix_check(home: Path) -> str:
    """The first bytes of a records key as stored (to show the prefix the query uses)."""
    with _ro(home / "data" / "state.db") as db:
        row = db.execute("SELECT key FROM kv WHERE key >= ? ORDER BY key LIMIT 1",
                         (b"records/",)).fetchone()
    return bytes(row[0])[:10].decode(errors="replace") if row else ""


def settle(c: Any) -> int:
    """Wait until the state store has committed every stored block; return the height."""
    deadline = time.monotonic() + 30
    while c.node.state.version() < c.node.blocks.height() and time.monotonic() < deadline:
        time.sleep(0.01)
    return int(c.node.blocks.height())


# --- the timed import ------------------------------------------------------------------


def instrument(timers: Timers, importer: Phr) -> None:
    records, sender = importer.records, importer.session.sender
    timers.wrap(fhir_bundle, "split_bundle", "validate + split_bundle")
    timers.wrap(records, "prepare", "prepare (seal + wrap + readers)")
    timers.wrap(records, "job", "jobs: readers, ids, keys (then sealed)")
    timers.wrap(crypto, "seal", "  seal (AES-GCM, commitment, hash)")
    timers.wrap(crypto, "wrap_key", "  wrap_key (HPKE)")
    timers.wrap(records, "_readers", "  consent/readers query (cached)")
    if hasattr(records, "_prefetch_readers"):
        timers.wrap(records, "_prefetch_readers", "consent/readers queries, concurrent")
    timers.wrap(records, "_upload", "upload to vault (HTTP batch)")
    timers.wrap(records, "_await_registered", "the vault registers them; wait for commit")
    timers.wrap(sender, "send_many", "sign + submit txs, wait for commit (self-reported)")
    timers.wrap(importer.node, "submit", "  submit (HTTP, check_tx; the last waits for commit)")
    timers.wrap(sender, "wait", "  wait for commit (polling)")


def import_all(importer: Phr, bundles: list[dict[str, Any]],
               dids: dict[str, str], parallel: bool | None) -> tuple[int, float]:
    records = 0
    t0 = time.perf_counter()
    for bundle in bundles:
        ids = importer.records.import_bundle(bundle, dids, parallel=parallel)
        records += sum(map(len, ids.values()))
    return records, time.perf_counter() - t0


def cli_import(c: Any, tmp: Path, hospital: Wallet, bundles: list[dict[str, Any]],
               dids: dict[str, str], serial: bool) -> tuple[int, float, int, float]:
    """The path users take: ``phrchain records import`` processes, hospital A's wallet
    from a file, the node and the vault directory from the environment; records and
    wall time from the first start to the last exit, one process per Bundle file and
    then all the files in one process."""
    import subprocess

    from phrchain.client.wallet import KdfParams

    wallet, vaults, phrase = tmp / "hospital.json", tmp / "vaults.json", uuid.uuid4().hex
    hospital.save(wallet, phrase, KdfParams(memory_kib=64, iterations=1, lanes=1))
    vaults.write_text(json.dumps(c.directory))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PHRCHAIN_")}
    env.update(PHRCHAIN_NODE=c.api_url, PHRCHAIN_PASSPHRASE=phrase,
               PHRCHAIN_VAULTS=str(vaults), **({"PHRCHAIN_SEAL_WORKERS": "0"} if serial else {}))
    files, mapping = [], tmp / "patients.json"
    mapping.write_text(json.dumps(dids))
    for i, bundle in enumerate(bundles):
        files.append(tmp / f"bundle{i}.json")
        files[-1].write_text(json.dumps(bundle))
    def phrchain(*files: Path) -> int:
        done = subprocess.run([sys.executable, "-m", "phrchain", "records", "import",
                               *(a for f in files for a in ("--file", str(f))),
                               "--patients", str(mapping), "--wallet", str(wallet)],
                              capture_output=True, text=True, timeout=600, env=env,
                              check=True)
        return int(json.loads(done.stdout)["total"])

    t0 = time.perf_counter()
    records = sum(phrchain(f) for f in files)
    t1 = time.perf_counter()
    together = phrchain(*files)  # the same Bundles again (new record ids), in one run
    return records, t1 - t0, together, time.perf_counter() - t1


def run(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    from tests.consortium import HOSPITAL_A

    t_gen = time.perf_counter()
    singles = generate_patients(args.patients, args.seed, args.resources)
    bundles = [merged(singles[i:i + args.per_bundle])
               for i in range(0, len(singles), args.per_bundle)]
    docs = {size: document_bundle(args.seed, 10_000 + k, args.doc_records, size)
            for k, size in enumerate((1024, 100 * 1024))}
    gen_s = time.perf_counter() - t_gen
    wallets = [patient_wallet(i) for i in range(args.patients + len(docs))]
    dids = {patient_id(b): w.did for b, w in zip([*singles, *docs.values()], wallets,
                                                   strict=True)}
    entries = sum(len(b["entry"]) for b in bundles)
    out: dict[str, Any] = {}
    with running(tmp, block_interval_ms=args.block_ms) as c:
        register_patients(c, wallets)
        importer = c.client(HOSPITAL_A)
        warm = generate_bundle(args.seed + 1, 0, resources=60)  # every resource type:
        importer.records.import_bundle(warm, {patient_id(warm): wallets[0].did})  # validators
        # compiled, connections open, the sealing pool's workers started (once per
        # importing process, like the imports; vault/bulk.py)
        pool = 0 if args.serial else bulk.start()
        home = c.home
        h0 = settle(c)
        files0 = {n: db_bytes(home / "data" / n) for n in ("blocks.db", "state.db")}
        timers = Timers()
        instrument(timers, importer)
        yappi = thread_profiler() if args.profile else None
        if yappi:
            yappi.set_clock_type("cpu")
            yappi.start()
        cpu0 = cpu_snapshot()
        try:
            records, elapsed = import_all(importer, bundles, dids,
                                          False if args.serial else None)
            cpu1 = cpu_snapshot()
        finally:
            if yappi:
                yappi.stop()
            timers.restore()
        h1 = settle(c)
        main = chain_bytes(home, h0)
        files1 = {n: db_bytes(home / "data" / n) for n in ("blocks.db", "state.db")}
        for size, bundle in docs.items():
            before = settle(c)
            importer.records.import_bundle(bundle, dids)
            settle(c)
            out[size] = chain_bytes(home, before)
        if args.cli:
            cli = generate_patients(args.cli * args.per_bundle, args.seed + 7, args.resources)
            cli_bundles = [merged(cli[i:i + args.per_bundle])
                           for i in range(0, len(cli), args.per_bundle)]
            cli_wallets = [patient_wallet(100_000 + i) for i in range(len(cli))]
            register_patients(c, cli_wallets)
            out["cli"] = cli_import(c, tmp, HOSPITAL_A, cli_bundles,
                                    {patient_id(b): w.did for b, w in
                                     zip(cli, cli_wallets, strict=True)}, args.serial)
        out.update(pool=pool, records=records, elapsed=elapsed, entries=entries, gen_s=gen_s,
                   main=main, files=(files0, files1), blocks=h1 - h0, timers=timers,
                   prefix=key_prefix_check(home),
                   cpu=cpu_spent(cpu0, cpu1, server_labels(cpu1)))
    return out


def report(args: argparse.Namespace, r: dict[str, Any]) -> None:
    records, elapsed, main = r["records"], r["elapsed"], r["main"]
    assert main["records"] == records, (main["records"], records)
    per = {k: v / records for k, v in main.items() if isinstance(v, int)}
    files0, files1 = r["files"]
    growth = {n: (files1[n] - files0[n]) / records for n in files0}
    print(f"{args.patients} patients x {args.resources} Bundle entries, {args.per_bundle} "
          f"per Bundle: {r['entries']} entries, {records} records (Organization/Practitioner"
          f" entries are validated but are no patient's records); generated in "
          f"{r['gen_s']:.1f} s (not timed)")
    how = "serial (--serial)" if args.serial else f"{r['pool']} worker processes"
    print(f"sealing: {how}")
    print(f"import: {elapsed:.2f} s -> {records / elapsed:,.0f} records/s "
          f"({r['entries'] / elapsed:,.0f} Bundle entries/s), {main['txs']} txs in "
          f"{r['blocks']} blocks (interval {args.block_ms} ms)")
    print("\nwhere the importer's time goes (wall, importing thread; indented = inside):")
    spent = r["timers"].spent
    for name, values in spent.items():
        total = sum(values)
        print(f"  {name:<40} {total:8.2f} s {100 * total / elapsed:5.1f} %  "
              f"{1e6 * total / records:7.0f} us/record  ({len(values)} calls)")
    cpu = {k: v for k, v in sorted(r["cpu"].items(), key=lambda kv: -kv[1]) if v > 0}
    total_cpu = sum(cpu.values())
    print(f"\nCPU by thread and child process during the import ({total_cpu:.1f} CPU s in "
          f"{elapsed:.1f} s wall on {os.cpu_count()} cores):")
    for name, spent in cpu.items():
        print(f"  {name:<40} {spent:8.2f} s  {1e6 * spent / records:7.0f} us/record")
    print("\non-chain bytes per record (blocks stored during the import):")
    print(f"  {'block store: raw txs':<40} {per['tx_raw']:8.1f}")
    print(f"  {'block store: tx results':<40} {per['tx_result']:8.1f}")
    print(f"  {'block store: signed headers':<40} {per['headers']:8.1f}")
    print(f"  {'state: records/ key+value rows':<40} {per['state_records_kv']:8.1f}")
    print(f"  {'state: all key+value rows':<40} {per['state_kv']:8.1f}")
    print(f"  {'state: Merkle tree node rows':<40} {per['state_nodes']:8.1f}")
    print(f"  {'blocks.db growth (pages)':<40} {growth['blocks.db']:8.1f}")
    print(f"  {'state.db growth (pages)':<40} {growth['state.db']:8.1f}")
    sizes = {}
    for size in (1024, 100 * 1024):
        d = r[size]
        sizes[size] = d["tx_raw"] / d["records"]
        print(f"  DocumentReference ~{size // 1024} KiB: {d['records']} records, "
              f"{sizes[size]:.1f} tx bytes/record, "
              f"{d['state_records_kv'] / d['records']:.1f} state records/ bytes/record")
    if args.profile:
        yappi = thread_profiler()
        stats = yappi.get_func_stats()
        stats.sort("tsub", "desc")
        stats.print_all(out=sys.stderr, columns={0: ("name", 80), 1: ("ncall", 9),
                                                 2: ("tsub", 8), 3: ("ttot", 8)})
        yappi.get_thread_stats().print_all(out=sys.stderr)
    cli = {}
    if "cli" in r:
        n, seconds, n1, seconds1 = r["cli"]
        cli = {"cli_resources_per_s": round(n / seconds), "cli_records": n,
               "cli_one_run_resources_per_s": round(n1 / seconds1)}
        print(f"\nphrchain records import, one process per Bundle: {n} records in "
              f"{seconds:.2f} s -> {n / seconds:,.0f} records/s; all Bundles in one run: "
              f"{n1} records in {seconds1:.2f} s -> {n1 / seconds1:,.0f} records/s")
    print(json.dumps({
        "bench": "ingest", "resources_per_s": round(records / elapsed),
        "onchain_bytes_per_record": round(per["tx_raw"], 1),
        "entries_per_s": round(r["entries"] / elapsed), "records": records,
        "patients": args.patients, "elapsed_s": round(elapsed, 2),
        "sealing_workers": r["pool"], **cli,
        "block_result_bytes_per_record": round(per["tx_result"], 1),
        "block_header_bytes_per_record": round(per["headers"], 1),
        "state_value_bytes_per_record": round(per["state_records_kv"], 1),
        "state_kv_bytes_per_record": round(per["state_kv"], 1),
        "state_tree_bytes_per_record": round(per["state_nodes"], 1),
        "blocks_file_growth_per_record": round(growth["blocks.db"], 1),
        "state_file_growth_per_record": round(growth["state.db"], 1),
        "tx_bytes_per_record_1k": round(sizes[1024], 1),
        "tx_bytes_per_record_100k": round(sizes[100 * 1024], 1),
        "cpu_us_per_record": {k: round(1e6 * v / records) for k, v in cpu.items()
                              if v >= 0.01},
        "cpu_s": round(total_cpu, 2),
        "loadavg_1m": round(os.getloadavg()[0], 1),
        "targets": {"resources_per_s": 2500, "onchain_bytes_per_record": 400}}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=200)
    parser.add_argument("--resources", type=int, default=30, help="Bundle entries/patient")
    parser.add_argument("--per-bundle", type=int, default=10, help="patients per Bundle")
    parser.add_argument("--doc-records", type=int, default=64)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--block-ms", type=int, default=20)
    parser.add_argument("--dir", default=None, help="where the node and vaults live")
    parser.add_argument("--quick", action="store_true", help="20 patients, 16 documents")
    parser.add_argument("--cli", type=int, default=0, metavar="N",
                        help="then import N more Bundles with `phrchain records import`")
    parser.add_argument("--serial", action="store_true",
                        help="seal in the importing process (the reference path), no pool")
    parser.add_argument("--profile", action="store_true",
                        help="yappi over every thread, to stderr (the bench extra: "
                             "pip install -e '.[bench]')")
    args = parser.parse_args()
    if args.quick:
        args.patients, args.doc_records = 20, 16
    if args.profile:
        thread_profiler()  # fail before the run, not after it
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        report(args, run(args, Path(tmp)))


if __name__ == "__main__":
    main()
