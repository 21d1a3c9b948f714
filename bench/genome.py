"""Genomic objects: crypt4gh sealing into the vault's genome store, next to raw
ChaCha20-Poly1305 + SHA-256 over the same bytes in the same run, and a proven 1 MB range
read.

    python bench/genome.py [--quick] [--size-mib N] [--dir DIR]

- ``seal``: ``objects.seal_stream`` (salted commitment, plaintext SHA-256 for DRS,
  ChaCha20-Poly1305 per 64 KiB segment with a fresh nonce, RFC 9162 leaf hash) streaming
  into ``GenomeStore`` (SQLite WAL, synchronous=FULL, a commit per 32 MiB, root check at
  the end). The source is synthetic and streamed: a 1 MiB random buffer read again and
  again (compressed genomic data is incompressible noise to the cipher), never the whole
  object in memory.
- ``raw``: ``ChaCha20Poly1305.encrypt`` and one ``hashlib.sha256`` over the same 64 KiB
  pieces, no I/O: the floor. ``seal_ratio`` = seal MB/s ÷ raw MB/s (goal ≥ 0.5).
- ``seal_cpu``: the same ``seal_stream`` into a sink that keeps nothing (no store, no
  disk): what the crypto and hashing alone cost, to tell them from the write and fsync
  of the object (``seal_cpu_ratio``).
- ``region_read_ms``: a 1 MB plaintext range starting mid-segment: the covering segments
  and their inclusion proofs from the store, each proof checked against the root and the
  segments decrypted and trimmed (``objects.read_range``), median of 20.

MB = 10**6 bytes of plaintext. Best of the repetitions (interference only slows a run).
The last line is JSON.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from phrchain.genome import crypt4gh as c4
from phrchain.genome import objects
from phrchain.genome.store import GenomeStore

MIB = 1 << 20


class Synthetic:
    """``size`` bytes of a repeated 1 MiB random buffer, read like a file."""

    def __init__(self, size: int) -> None:
        self.left = size
        self.buffer = os.urandom(MIB)
        self.at = 0

    def read(self, n: int = -1) -> bytes:
        n = self.left if n < 0 else min(n, self.left)
        out = bytearray()
        while len(out) < n:
            take = min(n - len(out), MIB - self.at)
            out += self.buffer[self.at:self.at + take]
            self.at = (self.at + take) % MIB
        self.left -= n
        return bytes(out)


def raw(size: int) -> float:
    aead = ChaCha20Poly1305(os.urandom(32))
    source, digest = Synthetic(size), hashlib.sha256()
    start = time.perf_counter()
    while block := source.read(c4.SEGMENT_SIZE):
        nonce = os.urandom(12)
        aead.encrypt(nonce, block, None)
        digest.update(block)
    return size / 1e6 / (time.perf_counter() - start)


def seal(store: GenomeStore, size: int) -> tuple[float, objects.Sealed]:
    record_id = os.urandom(16)
    start = time.perf_counter()
    with store.writer(record_id, "did:key:zBenchPatient") as w:
        sealed = objects.seal_stream(record_id, "did:key:zBenchPatient", Synthetic(size),
                                     w.add)  # type: ignore[arg-type]
        w.finish(sealed.meta, {}, b"", None, None, {"sha256": sealed.sha256})
    return size / 1e6 / (time.perf_counter() - start), sealed


def seal_cpu(size: int) -> float:
    start = time.perf_counter()
    objects.seal_stream(os.urandom(16), "did:key:zBenchPatient", Synthetic(size),
                        lambda _i, _s, _leaf: None)
    return size / 1e6 / (time.perf_counter() - start)


def region_read_ms(store: GenomeStore, sealed: objects.Sealed) -> float:
    meta = sealed.meta
    times = []
    for i in range(20):
        start_byte = (i * 7919 * 4096 + c4.SEGMENT_SIZE // 2) % max(1, meta.plain_size - 10**6)
        end_byte = min(meta.plain_size, start_byte + 10**6)
        t = time.perf_counter()
        parts = store.parts(meta.record_id, objects.covering(meta.plain_size, start_byte,
                                                             end_byte))
        got = objects.read_range([sealed.data_key], parts, root=meta.root,
                                 segments=meta.segments, plain_size=meta.plain_size,
                                 start=start_byte, end=end_byte)
        times.append((time.perf_counter() - t) * 1000)
        assert len(got) == end_byte - start_byte
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="16 MiB, one repetition")
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--dir", help="where the store goes (default: a temp directory)")
    args = parser.parse_args(argv)
    size = (16 if args.quick else args.size_mib) * MIB
    reps = 1 if args.quick else 2
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        raw_best, seal_best, cpu_best, sealed = 0.0, 0.0, 0.0, None
        for rep in range(reps):
            store = GenomeStore(Path(tmp) / f"rep{rep}")
            raw_best = max(raw_best, raw(size))
            speed, sealed = seal(store, size)
            seal_best = max(seal_best, speed)
            cpu_best = max(cpu_best, seal_cpu(size))
            print(f"rep {rep}: raw {raw_best:.0f} MB/s, seal {speed:.0f} MB/s",
                  file=sys.stderr)
        assert sealed is not None
        read_ms = region_read_ms(store, sealed)
    line: dict[str, Any] = {
        "bench": "genome", "size_bytes": size, "seal_MBps": round(seal_best, 1),
        "raw_MBps": round(raw_best, 1), "seal_ratio": round(seal_best / raw_best, 3),
        "region_read_ms": round(read_ms, 2), "region_bytes": 10**6,
        "seal_cpu_MBps": round(cpu_best, 1), "seal_cpu_ratio": round(cpu_best / raw_best, 3),
        "python": platform.python_version(), "load": os.getloadavg()[0]}
    print(json.dumps(line))
    return 0


if __name__ == "__main__":
    sys.exit(main())
