"""Ed25519 verification in worker processes, in batches.

OpenSSL's Ed25519 verify holds the GIL (measured: two threads verify no faster than one),
and verification is the single largest cost of a tx. The node therefore hands signature
checks for incoming txs to worker processes, batched so that inter-process overhead is a
few microseconds per signature, while its own thread does state work. A positive answer
is only a cache entry for ``Application.note_verified``; the application verifies
anything it has no entry for, so a worker that says "no" or dies costs speed, never
correctness.

Workers are plain subprocesses (``python -m phrchain.engine.solo.verifier``) speaking a
length-prefixed protocol over stdin/stdout — not ``multiprocessing``, whose spawn mode
re-imports the caller's ``__main__`` and breaks scripts without a main guard.

Request: ``u32 count`` then per item ``pubkey(32) sig(64) u32 len message``.
Response: ``count`` bytes, 1 = verified, 0 = not.
"""

from __future__ import annotations

import collections
import itertools
import sys
import threading
from concurrent.futures import Future
from typing import IO, Final

from phrchain.core import keys
from phrchain.core.errors import CryptoError
from phrchain.ipc import U32, read_exact, start_child, stop_child

_MAX_MESSAGE: Final = 1 << 20

Item = tuple[bytes, bytes, bytes]  # public key, signature, signed bytes
Pending = tuple[list[Item], "Future[list[bool]]"]


class VerifierDied(RuntimeError):
    pass


def serve(stdin: IO[bytes], stdout: IO[bytes]) -> None:
    """Worker loop: answer batches until the parent closes the pipe."""
    while True:
        try:
            (count,) = U32.unpack(read_exact(stdin, 4))
            answers = bytearray()
            for _ in range(count):
                head = read_exact(stdin, 100)
                (length,) = U32.unpack(head[96:])
                if length > _MAX_MESSAGE:
                    raise EOFError
                message = read_exact(stdin, length)
                try:
                    keys.verify(head[:32], head[32:96], message)
                    answers.append(1)
                except CryptoError:
                    answers.append(0)
        except EOFError:
            return
        stdout.write(bytes(answers))
        stdout.flush()


class _Worker:
    def __init__(self) -> None:
        # Isolated (see phrchain.ipc): a planted module must not approve signatures.
        self.proc = start_child("phrchain.engine.solo.verifier")
        self.pending: collections.deque[Pending] = collections.deque()
        self.lock = threading.Lock()
        self.sent = threading.Semaphore(0)  # one release per batch sent (and one to stop)
        self.reader = threading.Thread(target=self._read, name="verify-reader", daemon=True)
        self.reader.start()

    def send(self, items: list[Item], done: Future[list[bool]]) -> None:
        frame = [U32.pack(len(items))]
        for public_key, signature, message in items:
            frame += [public_key, signature, U32.pack(len(message)), message]
        with self.lock:
            self.pending.append((items, done))
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.write(b"".join(frame))
                self.proc.stdin.flush()
            except (OSError, ValueError):
                self._fail_all()
                return
        self.sent.release()

    def _read(self) -> None:
        stdout = self.proc.stdout
        assert stdout is not None
        while True:
            self.sent.acquire()
            with self.lock:
                batch = self.pending[0] if self.pending else None
            if batch is None:
                return  # close() woke us with nothing left to read
            items, done = batch
            try:
                answers = read_exact(stdout, len(items))
            except (EOFError, OSError, ValueError):
                with self.lock:
                    self._fail_all()
                return
            with self.lock:
                self.pending.popleft()
            done.set_result([ok == 1 for ok in answers])

    def _fail_all(self) -> None:
        while self.pending:
            _, done = self.pending.popleft()
            if not done.done():
                done.set_exception(VerifierDied("signature worker exited"))

    def close(self) -> None:
        self.sent.release()
        self.reader.join(timeout=5)
        stop_child(self.proc, timeout=5)


class ParallelVerifier:
    """Round-robin over worker processes; one future per batch, so the per-signature
    cost on the node thread is a few list operations."""

    def __init__(self, workers: int) -> None:
        self._workers = [_Worker() for _ in range(workers)]
        self._turn = itertools.count()

    def submit_batch(self, items: list[Item]) -> Future[list[bool]]:
        done: Future[list[bool]] = Future()
        if not items:
            done.set_result([])
            return done
        self._workers[next(self._turn) % len(self._workers)].send(items, done)
        return done

    def verify(self, public_key: bytes, signature: bytes, message: bytes,
               timeout: float = 30.0) -> bool:
        return self.submit_batch([(public_key, signature, message)]).result(timeout)[0]

    def close(self) -> None:
        for worker in self._workers:
            worker.close()


if __name__ == "__main__":
    serve(sys.stdin.buffer, sys.stdout.buffer)
