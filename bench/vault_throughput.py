"""Vault throughput: encrypt+store and fetch+decrypt through phrchain.vault, next to raw
AES-256-GCM over the same bytes in the same run.

    PYTHONPATH=src python bench/vault_throughput.py [--quick] [--dir DIR] [--profile]

What each column measures (MB = 10**6 bytes of plaintext, wall clock):

- ``put``: ``StreamSealer`` (salt, commitment, AES-256-GCM per 1 MiB chunk, leaf hashes)
  + one HPKE wrap for the patient + ``BlobStore.put_stream`` (SQLite WAL,
  synchronous=FULL, one fsync per 32 MiB batch and per record). For the largest size a
  second row uses ``BlobStore.put`` (the path for chunks uploaded from elsewhere: the
  store hashes every chunk again to check the root).
- ``get``: wrapped key fetch + HPKE unwrap + leaf hashes (root checked) + every chunk
  read, leaf-checked, AES-GCM-opened and commitment-checked by ``open_stream`` into a
  sink that discards the plaintext (as a socket would take it).
- ``raw enc``/``raw dec``: ``AESGCM.encrypt``/``decrypt`` alone over the same plaintext,
  cut the same way (1 MiB pieces; one piece for 1 KiB), no hashing, no I/O: the
  baseline. For large objects the run also shows one ``AESGCM`` call over the whole
  object, which is much slower (a fresh output buffer of the object's size is faulted
  in) and is *not* used as the baseline.

Every figure is the best of its repetitions (as ``timeit`` does), for the vault and the
raw baseline alike: the machine may be shared, and interference only ever slows a run.

- ``raw hash``: the chunk hash alone (``crypto.leaf_hasher``: SHA-256 or BLAKE3 of
  ``0x00 || piece``) over the same 1 MiB pieces.

The largest object runs once per chunk hash (``sha256``, ``blake3``; issue 20). The last
line is JSON; ``large_ratio`` = min(put ÷ limit, get ÷ limit) for the largest object
sealed with ``--hash`` (default blake3), limit = the slower of raw AES-GCM (same
direction) and the raw chunk hash on the same bytes, same run; ``large_ratio_by_hash``
gives it for both hashes, ``large_ratio_vs_cipher`` against AES-GCM alone (the
definition before issue 20).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import sqlite3
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cryptography
from cryptography.hazmat.backends.openssl import backend
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from phrchain.core import keys
from phrchain.vault import crypto
from phrchain.vault.blobs import BlobStore

PATIENT = "did:key:z6MkbenchBENCHbenchBENCHbenchBENCHbenchBENCHbench"
PATIENT_KEY = keys.EncryptionKey(bytes(range(1, 33)))
KiB, MiB = 1 << 10, 1 << 20


class Discard:
    def write(self, data: bytes, /) -> int:
        return len(data)


def raw_aes(plaintext: bytes, count: int) -> tuple[float, float]:
    """Seconds for AES-256-GCM encrypt and decrypt of ``count`` objects ``plaintext``,
    each cut in 1 MiB pieces (a 1 KiB object is one piece), fresh key per object."""
    view = memoryview(plaintext)
    pieces = [view[i:i + MiB] for i in range(0, len(plaintext), MiB)]
    aeads = [AESGCM(os.urandom(32)) for _ in range(count)]
    cts = [[a.encrypt(i.to_bytes(12, "big"), p, None) for i, p in enumerate(pieces)]
           for a in aeads]
    # timed loops drop each output at once, as the vault does; keeping 256 outputs of
    # 1 MiB alive would time page faults of fresh allocations, not AES
    t0 = time.perf_counter()
    for aead in aeads:
        for i, p in enumerate(pieces):
            aead.encrypt(i.to_bytes(12, "big"), p, None)
    t1 = time.perf_counter()
    for aead, chunks in zip(aeads, cts, strict=True):
        for i, c in enumerate(chunks):
            aead.decrypt(i.to_bytes(12, "big"), c, None)
    t2 = time.perf_counter()
    return t1 - t0, t2 - t1


def raw_aes_one_shot(plaintext: bytes) -> tuple[float, float]:
    """Seconds for one ``AESGCM.encrypt``/``decrypt`` call over the whole object (what a
    naive caller would do; slow for large objects: it faults in a fresh output buffer)."""
    aead, nonce = AESGCM(os.urandom(32)), bytes(12)
    t0 = time.perf_counter()
    sealed = aead.encrypt(nonce, plaintext, None)
    t1 = time.perf_counter()
    aead.decrypt(nonce, sealed, None)
    return t1 - t0, time.perf_counter() - t1


def raw_hash(plaintext: bytes, count: int, hash_alg: str) -> float:
    """Seconds for the chunk hash alone over ``count`` objects cut in 1 MiB pieces."""
    view, leaf = memoryview(plaintext), crypto.leaf_hasher(hash_alg)
    pieces = [view[i:i + MiB] for i in range(0, len(plaintext), MiB)]
    t0 = time.perf_counter()
    for _ in range(count):
        for piece in pieces:
            leaf(piece)
    return time.perf_counter() - t0


def put_one(store: BlobStore, record_id: bytes, plaintext: bytes,
            verify_upload: bool, hash_alg: str = crypto.SHA256) -> crypto.RecordMeta:
    sealer = crypto.StreamSealer(record_id, PATIENT, io.BytesIO(plaintext), len(plaintext),
                                 hash_alg=hash_alg)
    wrapped = {PATIENT: crypto.wrap_key(sealer.data_key, PATIENT_KEY.public_key, record_id,
                                        PATIENT)}
    if not verify_upload:
        return store.put_stream(sealer, wrapped)
    chunks = list(sealer)  # seal first, then "upload": the store re-hashes every chunk
    store.put(sealer.meta, chunks, wrapped)
    return sealer.meta


def get_one(store: BlobStore, record_id: bytes) -> int:
    meta = store.get_meta(record_id)
    key = crypto.unwrap_key(store.get_wrapped_key(record_id, PATIENT), PATIENT_KEY, record_id,
                            PATIENT)
    return crypto.open_stream(record_id, PATIENT, key, store.iter_chunks(record_id), Discard(),
                              leaf_hashes=store.leaf_hashes(record_id), expected_hash=meta.hash,
                              expected_commitment=meta.commitment, size=meta.size,
                              hash_alg=meta.hash_alg)


def timed(fn: Callable[[], Any], profile: bool, label: str) -> float:
    profiler = None
    if profile:  # profilers are imported only under --profile
        import cProfile

        profiler = cProfile.Profile()
    t0 = time.perf_counter()
    if profiler:
        profiler.enable()
    fn()
    if profiler:
        profiler.disable()
    elapsed = time.perf_counter() - t0
    if profiler:
        sys.stdout.write(f"\n--- profile: {label} ({elapsed:.3f} s) ---\n")
        import pstats

        pstats.Stats(profiler, stream=sys.stdout).sort_stats("tottime").print_stats(8)
    return elapsed


def run_size(store: BlobStore, size: int, count: int, reps: int, verify_upload: bool,
             profile: bool, hash_alg: str) -> dict[str, Any]:
    plaintext = os.urandom(size)
    puts, gets = [], []
    for rep in range(reps):
        ids = [os.urandom(16) for _ in range(count)]
        puts.append(timed(lambda ids=ids: [put_one(store, r, plaintext, verify_upload, hash_alg)
                                           for r in ids], profile and rep == 0, f"put {size}"))
        gets.append(timed(lambda ids=ids: [get_one(store, r) for r in ids],
                          profile and rep == 0, f"get {size}"))
        for r in ids:  # keep the disk footprint to one rep
            store.shred(r)
    raws = [raw_aes(plaintext, count) for _ in range(max(3, reps))]
    raw_enc = min(r[0] for r in raws)
    raw_dec = min(r[1] for r in raws)
    hashed = min(raw_hash(plaintext, count, hash_alg) for _ in range(max(3, reps)))
    total = size * count / 1e6
    result: dict[str, Any] = {
        "put_MBps": total / min(puts), "get_MBps": total / min(gets),
        "raw_enc_MBps": total / raw_enc, "raw_dec_MBps": total / raw_dec,
        "raw_hash_MBps": total / hashed, "objects": count, "reps": reps}
    result["ratio"] = min(result["put_MBps"] / min(result["raw_enc_MBps"], total / hashed),
                          result["get_MBps"] / min(result["raw_dec_MBps"], total / hashed))
    result["ratio_vs_cipher"] = min(result["put_MBps"] / result["raw_enc_MBps"],
                                    result["get_MBps"] / result["raw_dec_MBps"])
    if size > MiB:
        one = [raw_aes_one_shot(plaintext) for _ in range(2)]
        result["raw_one_shot_enc_MBps"] = size / 1e6 / min(r[0] for r in one)
        result["raw_one_shot_dec_MBps"] = size / 1e6 / min(r[1] for r in one)
    return result


def in_memory(size: int, hash_alg: str, reps: int = 3) -> dict[str, float]:
    """MB of plaintext per CPU second of sealing (``StreamSealer``) and of verifying and
    opening (``open_stream``) an object held in memory: the CPU side of put and get,
    without the store's writes and fsyncs (which load on a shared disk dominates)."""
    plaintext, best_put, best_get = os.urandom(size), float("inf"), float("inf")
    for _ in range(reps):
        t0 = time.process_time()
        sealer = crypto.StreamSealer(bytes(16), PATIENT, io.BytesIO(plaintext), size,
                                     hash_alg=hash_alg)
        chunks = list(sealer)
        best_put = min(best_put, time.process_time() - t0)
        meta = sealer.meta
        t0 = time.process_time()
        crypto.open_stream(bytes(16), PATIENT, sealer.data_key, chunks, Discard(),
                           leaf_hashes=sealer.leaf_hashes, expected_hash=meta.hash,
                           expected_commitment=meta.commitment, size=meta.size,
                           hash_alg=hash_alg)
        best_get = min(best_get, time.process_time() - t0)
    return {"put": round(size / 1e6 / best_put, 1), "get": round(size / 1e6 / best_get, 1)}


def thread_scaling(store: BlobStore, threads: int, seconds: float = 1.5) -> float:
    """Full 1 KiB reads (meta, wrapped key, unwrap, chunks, verify) per second."""
    ids = [os.urandom(16) for _ in range(64)]
    for r in ids:
        put_one(store, r, os.urandom(KiB), False)
    done = [0] * threads
    stop = time.perf_counter() + seconds

    def worker(n: int) -> None:
        i = n
        while time.perf_counter() < stop:
            get_one(store, ids[i % len(ids)])
            done[n] += 1
            i += threads

    pool = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    for r in ids:
        store.shred(r)
    return sum(done) / seconds


def machine(directory: Path) -> dict[str, Any]:
    flags = ""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        pass
    model = next((ln.split(":", 1)[1].strip() for ln in flags.splitlines()
                  if ln.startswith("model name")), platform.processor())
    return {"cpu": model, "cpus": os.cpu_count(), "python": platform.python_version(),
            "cryptography": cryptography.__version__,
            "openssl": backend.openssl_version_text(), "sqlite": sqlite3.sqlite_version,
            "sha_ni": " sha_ni" in flags, "vaes": " vaes" in flags,
            "loadavg_end": [round(x, 2) for x in os.getloadavg()], "dir": str(directory)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller run (largest 32 MiB)")
    parser.add_argument("--dir", default=None, help="where the temporary store goes")
    parser.add_argument("--profile", action="store_true", help="cProfile the first rep")
    parser.add_argument("--hash", choices=crypto.HASH_ALGS, default=crypto.BLAKE3,
                        help="chunk hash of the large_ratio row (both are measured)")
    args = parser.parse_args()
    large = 32 * MiB if args.quick else 256 * MiB
    big_label = f"{large // MiB} MiB"
    plan = [("1 KiB", KiB, 300 if args.quick else 1000, 3, False, crypto.SHA256),
            ("1 MiB", MiB, 16 if args.quick else 64, 3, False, crypto.SHA256),
            *((f"{big_label} {alg}", large, 1, 3, False, alg) for alg in crypto.HASH_ALGS),
            (f"{big_label} {args.hash} (put verifies)", large, 1, 1 if args.quick else 2, True,
             args.hash)]
    results: dict[str, dict[str, Any]] = {}
    started, load_start = time.perf_counter(), [round(x, 2) for x in os.getloadavg()]
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="vault-bench-") as tmp:
        with BlobStore(Path(tmp) / "store") as store:
            for label, size, count, reps, verify, alg in plan:
                results[label] = run_size(store, size, count, reps, verify, args.profile, alg)
            scaling = {str(n): round(thread_scaling(store, n)) for n in (1, 2, 4)}
        cpu_side = {alg: in_memory(min(large, 128 * MiB), alg) for alg in crypto.HASH_ALGS}
        conditions = {**machine(Path(tmp)), "loadavg_start": load_start}
    header = (f"{'object':<34}{'n':>6}{'put MB/s':>11}{'get MB/s':>11}{'raw enc':>10}"
              f"{'raw dec':>10}{'raw hash':>10}{'ratio':>8}")
    sys.stdout.write(header + "\n" + "-" * len(header) + "\n")
    for label, r in results.items():
        sys.stdout.write(
            f"{label:<34}{r['objects']:>6}{r['put_MBps']:>11.1f}{r['get_MBps']:>11.1f}"
            f"{r['raw_enc_MBps']:>10.0f}{r['raw_dec_MBps']:>10.0f}{r['raw_hash_MBps']:>10.0f}"
            f"{r['ratio']:>8.3f}\n")
    for label, r in results.items():
        if "raw_one_shot_enc_MBps" in r:
            sys.stdout.write(
                f"{label}: raw AES-GCM in one call over the whole object (not the baseline): "
                f"enc {r['raw_one_shot_enc_MBps']:.0f} MB/s, "
                f"dec {r['raw_one_shot_dec_MBps']:.0f} MB/s\n")
    sys.stdout.write(f"1 KiB full reads/s by threads (one SQLite connection each): {scaling}\n")
    sys.stdout.write(f"in memory, MB per CPU second (seal / verify+open): {cpu_side}\n")
    big = results[f"{big_label} {args.hash}"]
    line = {"bench": "vault_throughput", "quick": args.quick, "large_bytes": large,
            "results": {k: {m: round(v, 3) for m, v in r.items()} for k, r in results.items()},
            "reads_per_s_by_threads": scaling, "large_ratio": round(big["ratio"], 4),
            "large_hash": args.hash,
            "large_ratio_by_hash": {alg: round(results[f"{big_label} {alg}"]["ratio"], 4)
                                    for alg in crypto.HASH_ALGS},
            "large_ratio_vs_cipher": round(big["ratio_vs_cipher"], 4),
            "in_memory_MB_per_cpu_s": cpu_side,
            "seconds": round(time.perf_counter() - started, 1), "machine": conditions}
    sys.stdout.write(json.dumps(line) + "\n")


if __name__ == "__main__":
    main()
