"""An append-only object file written around the page cache (``O_DIRECT``), by a
background thread, for the genome store's writer (``store.py``).

Why: a sealed genome is written once and read back by ranges, seldom whole. Through the
page cache each byte is copied into the kernel, and the dirty pages are then written back
by kernel threads: CPU that the sealer (two SHA-256 passes and ChaCha20-Poly1305 over
every byte) competes with on a small machine, for pages nobody reads soon. Here the
bytes are gathered in page-aligned buffers (``mmap``) and each full buffer is handed to a
writer thread, which writes it straight to the device (``os.pwrite`` waits for the disk
without the GIL) while the sealer goes on: at most two buffers in flight, a third being
filled. The last, partial block is written padded to the alignment and the file cut back
to its length; :meth:`DirectFile.close` then ``fsync``\\ s (metadata and the device's
cache): as durable as the buffered path.

Where ``O_DIRECT`` is refused (tmpfs, some filesystems, not Linux), :func:`open_object`
returns ``None`` and the store writes through the page cache as before.
"""

from __future__ import annotations

import contextlib
import errno
import mmap
import os
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Final

ALIGN: Final = 4096  # a multiple of every logical block size O_DIRECT asks alignment to
BUFFER: Final = 4 << 20  # bytes per write
IN_FLIGHT: Final = 2


class DirectFile:
    """``write`` appends (any sizes), ``tell`` is the length so far, ``close`` makes the
    file whole and durable; a failed background write is raised by a later ``write``
    (the one that waits for it) or by ``close``."""

    def __init__(self, fd: int, buffer_size: int = BUFFER) -> None:
        if buffer_size <= 0 or buffer_size % ALIGN:
            raise ValueError(f"a buffer is a positive multiple of {ALIGN} bytes")
        self.fd, self.size = fd, buffer_size
        self._buffers = [mmap.mmap(-1, buffer_size) for _ in range(IN_FLIGHT + 1)]
        self._current = 0
        self._fill = 0  # bytes in the current buffer
        self._offset = 0  # file offset of the current buffer's first byte
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="genome-direct-io")
        self._pending: deque[Future[None]] = deque()

    def tell(self) -> int:
        return self._offset + self._fill

    def write(self, data: bytes | memoryview) -> None:
        view = memoryview(data).cast("B")
        while view:
            buffer = self._buffers[self._current]
            take = min(len(view), self.size - self._fill)
            buffer[self._fill:self._fill + take] = view[:take]
            self._fill += take
            view = view[take:]
            if self._fill == self.size:
                self._hand_off()

    def window(self, n: int) -> memoryview | None:
        """The next ``n`` bytes of the file as writable memory in the current buffer
        (None if ``n`` is too large for one): fill it, then :meth:`commit` it. This is
        how the sealer encrypts straight into what is written, with no copy."""
        if n > self.size - ALIGN:
            return None
        if self._fill + n > self.size:
            self._hand_off()
        with memoryview(self._buffers[self._current]) as whole:
            return whole[self._fill:self._fill + n]  # keeps the buffer exported, not whole

    def commit(self, window: memoryview, n: int) -> None:
        """Append the first ``n`` bytes of the last :meth:`window` (which it releases)."""
        if n > len(window):
            raise ValueError("more bytes than the window has")
        window.release()
        self._fill += n

    def _hand_off(self) -> None:
        """Write the current buffer's whole blocks on the thread and go on in the next
        buffer (free: at most ``IN_FLIGHT`` others are in flight, and we wait for the
        oldest), starting with the rest (less than a block)."""
        whole = self._fill // ALIGN * ALIGN
        buffer = self._buffers[self._current]
        self._pending.append(self._pool.submit(_write_all, self.fd, buffer, whole,
                                               self._offset))
        while len(self._pending) > IN_FLIGHT:
            self._pending.popleft().result()
        self._current = (self._current + 1) % len(self._buffers)
        rest = self._fill - whole
        self._buffers[self._current][:rest] = buffer[whole:self._fill]
        self._offset += whole
        self._fill = rest

    def close(self) -> None:
        """The tail padded to a whole block and the file cut to its length; every write
        done, then ``fsync``. Raises the first failed write."""
        size = self.tell()
        tail = -(-self._fill // ALIGN) * ALIGN
        buffer = self._buffers[self._current]
        buffer[self._fill:tail] = bytes(tail - self._fill)
        if tail:
            self._pending.append(self._pool.submit(_write_all, self.fd, buffer, tail,
                                                   self._offset))
        try:
            while self._pending:
                self._pending.popleft().result()
            os.ftruncate(self.fd, size)
            os.fsync(self.fd)
        finally:
            self.discard()

    def discard(self) -> None:
        """Stop (waiting for a write under way) and close, without making it durable;
        once (a second call does nothing: the descriptor may be another file's by then)."""
        if not self._buffers:
            return
        for future in self._pending:
            future.cancel()
        self._pool.shutdown(wait=True)
        self._pending.clear()
        with contextlib.suppress(OSError):
            os.close(self.fd)
        for buffer in self._buffers:
            with contextlib.suppress(BufferError):  # a view kept by a traceback: GC frees it
                buffer.close()
        self._buffers = []


def _write_all(fd: int, buffer: mmap.mmap, n: int, offset: int) -> None:
    done = 0
    with memoryview(buffer) as view:  # released even on an error: the buffer may close
        while done < n:  # a short write of whole blocks leaves the rest aligned
            with view[done:n] as part:
                wrote = os.pwrite(fd, part, offset + done)
            if wrote <= 0:
                raise OSError(errno.EIO, "the device took no bytes")
            done += wrote


def open_object(path: Path, buffer_size: int = BUFFER) -> DirectFile | None:
    """A new file at ``path`` opened for direct writes, or None where the filesystem or
    the platform refuses them (the caller writes through the page cache)."""
    flag = getattr(os, "O_DIRECT", 0)
    if not flag:
        return None
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | flag, 0o600)
    except OSError as exc:
        if exc.errno == errno.EINVAL:
            return None
        raise
    probe = mmap.mmap(-1, ALIGN)
    try:  # some filesystems accept the flag and refuse the first write
        os.pwrite(fd, memoryview(probe), 0)
        os.ftruncate(fd, 0)
    except OSError as exc:
        os.close(fd)
        if exc.errno == errno.EINVAL:
            path.unlink(missing_ok=True)
            return None
        raise
    finally:
        probe.close()
    return DirectFile(fd, buffer_size)
