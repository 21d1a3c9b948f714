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
import contextlib
import itertools
import struct
import subprocess
import sys
import threading
from concurrent.futures import Future
from typing import IO, Final

from phrchain.core import keys
from phrchain.core.errors import CryptoError

_U32: Final = struct.Struct(">I")
_MAX_MESSAGE: Final = 1 << 20

Item = tuple[bytes, bytes, bytes]  # public key, signature, signed bytes
Pending = tuple[list[Item], "Future[list[bool]]"]


class VerifierDied(RuntimeError):
    pass


def _read_exact(stream: IO[bytes], n: int) -> bytes:
    data = stream.read(n)
    if data is None or len(data) != n:
        raise EOFError
    return data


def serve(stdin: IO[bytes], stdout: IO[bytes]) -> None:
    """Worker loop: answer batches until the parent closes the pipe."""
    while True:
        try:
            (count,) = _U32.unpack(_read_exact(stdin, 4))
            answers = bytearray()
            for _ in range(count):
                head = _read_exact(stdin, 100)
                (length,) = _U32.unpack(head[96:])
                if length > _MAX_MESSAGE:
                    raise EOFError
                message = _read_exact(stdin, length)
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
        self.proc = subprocess.Popen(
            # -I: isolated mode. No current directory on sys.path and no PYTHON*
            # variables, so a stray "phrchain/" folder where the node happens to start
            # cannot stand in for the worker and approve forged signatures.
            [sys.executable, "-I", "-m", "phrchain.engine.solo.verifier"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.pending: collections.deque[Pending] = collections.deque()
        self.lock = threading.Lock()
        self.sent = threading.Semaphore(0)  # one release per batch sent (and one to stop)
        self.reader = threading.Thread(target=self._read, name="verify-reader", daemon=True)
        self.reader.start()

    def send(self, items: list[Item], done: Future[list[bool]]) -> None:
        frame = [_U32.pack(len(items))]
        for public_key, signature, message in items:
            frame += [public_key, signature, _U32.pack(len(message)), message]
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
                answers = _read_exact(stdout, len(items))
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
        if self.proc.stdin is not None:
            with contextlib.suppress(OSError):  # the worker may already be gone
                self.proc.stdin.close()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


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
