"""Sealing records in bulk: the pure cryptographic part of the SDK's
``RecordsClient.prepare`` (``client/records.py``), here below the SDK so that a worker
process imports only the vault library.

:class:`Job` is everything the sealing needs, decided on the caller's side first (the
readers' keys from the chain, the custodian, and the fresh random values: record id,
data key, salts); :func:`seal_job` then does the work that needs no network: AES-GCM
sealing with the commitment and the chunk hash, one HPKE wrap per reader, the
descriptor and its sealing, the register message. Given the same job it gives the same
record (the HPKE wraps differ, as every wrap does, and open to the same key).

:func:`seal_jobs` runs jobs in a bounded pool of worker processes (``spawn``: the
caller may have threads) when there are at least :data:`POOL_THRESHOLD` of them (or
:data:`POOL_MIN` once it runs: a long-lived importer starts it with :func:`start`) and
more than one core (``PHRCHAIN_SEAL_WORKERS`` sets the number; 0 or 1: none);
otherwise, or if the pool cannot start or breaks, serially in this process.
The serial path is the reference: the pool's results are the same (tests).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import secrets
import signal
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import BrokenExecutor, Executor, ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any, Final

from phrchain.modules.records.messages import Register, size_bucket
from phrchain.vault import crypto
from phrchain.vault.crypto import Sealed
from phrchain.vault.descriptor import Descriptor, seal_descriptor

log = logging.getLogger(__name__)

# Starting a worker costs ~0.5-1 s of CPU (a fresh interpreter importing the vault
# library), ~0.6-1 ms per record to seal: a pool is started for this many jobs at once,
# and once running (or started by :func:`start`) used for batches of POOL_MIN or more.
POOL_THRESHOLD: Final = 2048
POOL_MIN: Final = 64
MAX_WORKERS: Final = 8
CHUNK: Final = 16  # jobs per round trip to a worker

_pool: Executor | None = None
_pool_lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class Prepared:
    """A sealed record ready to upload and register: its sealed descriptor, and the
    register message (sent by the custodian's vault, or by the patient if
    ``self_reported``)."""

    sealed: Sealed
    wrapped: dict[str, bytes]
    msg: dict[str, Any]
    custodian: str
    descriptor: Descriptor
    sealed_descriptor: bytes
    self_reported: bool = False

    @property
    def record(self) -> str:
        return self.sealed.record_id.hex()


@dataclass(frozen=True, slots=True)
class Job:
    """One record to seal: what ``prepare`` decided, with its fresh random values."""

    plaintext: bytes
    patient: str
    resource: str
    category: str
    author: str
    custodian: str
    self_reported: bool
    replaces: str | None
    readers: Mapping[str, bytes]  # reader DID -> registered X25519 enc key
    record_id: bytes
    data_key: bytes
    salt: bytes
    descriptor_salt: str

    @classmethod
    def new(cls, plaintext: bytes, patient: str, *, resource: str, category: str,
            author: str, custodian: str, self_reported: bool, replaces: str | None,
            readers: Mapping[str, bytes], record_id: bytes | None = None) -> Job:
        return cls(plaintext, patient, resource, category, author, custodian,
                   self_reported, replaces, dict(readers),
                   record_id or secrets.token_bytes(16), secrets.token_bytes(crypto.KEY_SIZE),
                   secrets.token_bytes(crypto.SALT_SIZE), secrets.token_hex(16))


def seal_job(job: Job) -> Prepared:
    """Seal one record (no network, no state): the reference for the pool."""
    sealed = crypto.seal(job.record_id, job.patient, job.plaintext, data_key=job.data_key,
                         salt=job.salt)
    wrapped = {did: crypto.wrap_key(sealed.data_key, key, job.record_id, did)
               for did, key in job.readers.items()}
    meta = sealed.meta
    descriptor = Descriptor.new(job.record_id.hex(), job.resource, job.category, job.author,
                                meta.size, meta.chunks, salt=job.descriptor_salt)
    msg = Register(meta.record_id.hex(), job.patient, meta.hash.hex(), size_bucket(meta.size),
                   meta.commitment.hex(), descriptor.commitment().hex(),
                   job.custodian if job.self_reported else None, job.replaces).to_msg()
    return Prepared(sealed, wrapped, msg, job.custodian, descriptor,
                    seal_descriptor(descriptor, sealed.data_key), job.self_reported)


def _seal_chunk(jobs: Sequence[Job]) -> list[Prepared]:
    return [seal_job(j) for j in jobs]


def pool_size() -> int:
    """Worker processes: the core count, at most :data:`MAX_WORKERS`, or
    ``PHRCHAIN_SEAL_WORKERS`` if set (0 or 1: no pool, the serial path)."""
    given = os.environ.get("PHRCHAIN_SEAL_WORKERS", "")
    if given.isdigit():
        return max(1, min(int(given), MAX_WORKERS))
    return max(1, min(os.cpu_count() or 1, MAX_WORKERS))


def _worker_init() -> None:
    """A worker leaves Ctrl-C to its parent (which stops the pool), instead of printing
    a traceback of its own."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _executor() -> Executor | None:
    global _pool
    with _pool_lock:
        if _pool is None and pool_size() > 1:
            _pool = ProcessPoolExecutor(pool_size(),
                                        mp_context=multiprocessing.get_context("spawn"),
                                        initializer=_worker_init)
        return _pool


def _ready() -> int:
    time.sleep(0.05)  # long enough that each of a round's calls gets its own worker
    return os.getpid()


def start() -> int:
    """Start the worker processes now (a long import warms them once, as it warms its
    imports); how many answered."""
    pool = _executor()
    if pool is None:
        return 0
    seen: set[int] = set()
    for _ in range(10):  # bounded: workers start on demand, one per waiting call
        seen |= {f.result() for f in [pool.submit(_ready) for _ in range(pool_size())]}
        if len(seen) >= pool_size():
            break
    return len(seen)


def shutdown() -> None:
    """Stop the worker processes (started again on the next large batch)."""
    global _pool
    with _pool_lock:
        pool, _pool = _pool, None
    if pool is not None:
        pool.shutdown(wait=True, cancel_futures=True)


def seal_jobs(jobs: Sequence[Job], *, parallel: bool | None = None) -> Iterator[Prepared]:
    """The sealed records of ``jobs``, in order, as they are ready. ``parallel``: None
    decides by :data:`POOL_THRESHOLD` (or :data:`POOL_MIN` once the pool runs) and the
    core count; False is the serial reference; True uses the pool whenever there can
    be one."""
    if parallel is None:
        parallel = len(jobs) >= POOL_THRESHOLD or (_pool is not None
                                                   and len(jobs) >= POOL_MIN)
    pool = _executor() if parallel else None
    if pool is None:
        yield from map(seal_job, jobs)
        return
    chunks = [jobs[i:i + CHUNK] for i in range(0, len(jobs), CHUNK)]
    try:
        futures = [pool.submit(_seal_chunk, c) for c in chunks]
    except RuntimeError as exc:  # a broken or shut-down pool: the serial path
        log.warning("sealing pool unavailable (%s): sealing serially", type(exc).__name__)
        shutdown()
        yield from map(seal_job, jobs)
        return
    for k, future in enumerate(futures):
        try:
            done = future.result()
        except BrokenExecutor as exc:  # a worker died: the rest serially, same results
            log.warning("sealing pool broke (%s): sealing the rest serially",
                        type(exc).__name__)
            shutdown()
            for chunk in chunks[k:]:
                yield from map(seal_job, chunk)
            return
        yield from done
