"""Ed25519 verification in worker processes, in batches.

OpenSSL's Ed25519 verify holds the GIL (measured: two threads verify no faster than one),
and verification is the single largest cost of a tx. The node therefore hands signature
checks for incoming txs to a small process pool, batched so that inter-process overhead
is a few microseconds per signature, while its own thread does state work. A positive
answer is only a cache entry for ``Application.note_verified``; the application still
verifies anything it finds no entry for, so a verifier that says "no" or dies costs
speed, never correctness.
"""

from __future__ import annotations

import multiprocessing
import queue
import threading
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Final

from phrchain.core import keys
from phrchain.core.errors import CryptoError

_BATCH: Final = 256
_WAIT_S: Final = 0.002

Item = tuple[bytes, bytes, bytes]  # public key, signature, signed bytes


def verify_batch(items: list[Item]) -> list[bool]:
    """Worker side: verify each item (canonical-encoding checks included)."""
    out = []
    for public_key, signature, message in items:
        try:
            keys.verify(public_key, signature, message)
            out.append(True)
        except CryptoError:
            out.append(False)
    return out


class ParallelVerifier:
    def __init__(self, workers: int) -> None:
        self._pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
        self._pool.submit(verify_batch, []).result()  # start the workers now, not mid-load
        self._queue: queue.SimpleQueue[tuple[Item, Future[bool]] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._batcher, name="verify-batcher",
                                        daemon=True)
        self._thread.start()

    def submit(self, public_key: bytes, signature: bytes, message: bytes) -> Future[bool]:
        done: Future[bool] = Future()
        self._queue.put(((public_key, signature, message), done))
        return done

    def verify(self, public_key: bytes, signature: bytes, message: bytes,
               timeout: float = 30.0) -> bool:
        return self.submit(public_key, signature, message).result(timeout)

    def _batcher(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            try:
                while len(batch) < _BATCH:
                    nxt = self._queue.get(timeout=_WAIT_S) if len(batch) == 1 \
                        else self._queue.get_nowait()
                    if nxt is None:
                        self._queue.put(None)
                        break
                    batch.append(nxt)
            except queue.Empty:
                pass
            self._dispatch(batch)

    def _dispatch(self, batch: list[tuple[Item, Future[bool]]]) -> None:
        try:
            job = self._pool.submit(verify_batch, [item for item, _ in batch])
        except RuntimeError as exc:  # pool shut down
            for _, done in batch:
                done.set_exception(exc)
            return

        def deliver(job: Future[list[bool]]) -> None:
            try:
                answers = job.result()
            except Exception as exc:  # a dead worker: callers fall back to in-app checks
                for _, done in batch:
                    done.set_exception(exc)
                return
            for (_, done), ok in zip(batch, answers, strict=True):
                done.set_result(ok)

        job.add_done_callback(deliver)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=5)
        self._pool.shutdown(wait=True, cancel_futures=True)
