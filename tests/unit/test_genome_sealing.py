"""The sealer's batches and the store's direct writes (issue 18's speed work): the same
bytes as one segment at a time, on one thread or two, through the page cache or around
it; a refused ``O_DIRECT`` falls back, a failed background write fails the object."""

from __future__ import annotations

import errno
import io
import itertools
import os
from pathlib import Path
from typing import Any

import crypt4gh.lib
import pytest

from phrchain.core import rfc9162
from phrchain.genome import crypt4gh as c4
from phrchain.genome import directio, objects
from phrchain.genome import store as genome_store

SEG = c4.SEGMENT_SIZE


def counting_nonces(monkeypatch: pytest.MonkeyPatch) -> None:
    """``os.urandom`` in crypt4gh.py gives 12-byte counters: the same nonces each run."""
    counter = itertools.count()
    real = os.urandom
    monkeypatch.setattr(c4.os, "urandom", lambda n: next(counter).to_bytes(n, "big")
                        if n == c4.NONCE_SIZE else real(n))


def one_at_a_time(key: bytes, plain: bytes) -> list[bytes]:
    """What the sealer made before batches: ``encrypt_segment`` per 64 KiB."""
    return [c4.encrypt_segment(key, plain[at:at + SEG]) for at in range(0, len(plain), SEG)]


@pytest.mark.parametrize("size", [1, SEG - 1, SEG, SEG + 1, 16 * SEG, 16 * SEG + 5,
                                  40 * SEG + 123])
@pytest.mark.parametrize("pipeline", [False, True])
def test_batches_are_the_segments_one_at_a_time_would_be(
        size: int, pipeline: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    key, salt = bytes(range(32)), bytes(32)
    plain = os.urandom(size)
    counting_nonces(monkeypatch)
    expected = one_at_a_time(key, plain)
    counting_nonces(monkeypatch)  # the same nonces again, in segment order
    monkeypatch.setattr(objects, "PIPELINE", pipeline)
    got: list[tuple[int, bytes, bytes]] = []
    seen: list[bytes] = []
    sealed = objects.seal_stream(b"r" * 16, "did:key:zP", io.BytesIO(plain),
                                 lambda i, s, leaf: got.append((i, s, leaf)), data_key=key,
                                 salt=salt, on_plain=seen.append)
    assert [s for _, s, _ in got] == expected
    assert [i for i, _, _ in got] == list(range(len(expected)))
    assert [leaf for _, _, leaf in got] == [rfc9162.leaf_hash(s) for s in expected]
    assert b"".join(seen) == plain
    assert sealed.meta.root == rfc9162.root_from_leaf_hashes(
        [rfc9162.leaf_hash(s) for s in expected])
    assert sealed.meta.size == c4.cipher_size(size) == sum(map(len, expected))
    assert sealed.meta.plain_size == size and sealed.meta.segments == len(expected)


class Trickle(io.RawIOBase):
    """A pipe-like source: at most 1000 bytes per read."""

    def __init__(self, data: bytes) -> None:
        self.data, self.at = data, 0

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        n = 1000 if n < 0 else min(n, 1000)
        out = self.data[self.at:self.at + n]
        self.at += len(out)
        return out


def test_short_reads_still_make_whole_segments() -> None:
    """A source returning short reads (a pipe) is still cut into whole 64 KiB segments
    (short ones in the middle would not be a crypt4gh file): the reference reader
    opens the result, and a batch sink gets the segments back to back."""
    plain = os.urandom(3 * SEG + 77)
    batches: list[tuple[int, bytes, int]] = []
    sealed = objects.seal_stream(
        b"r" * 16, "did:key:zP", Trickle(plain),  # type: ignore[arg-type]
        batch_sink=lambda first, data, leaves: batches.append((first, bytes(data),
                                                               len(leaves))))
    assert [(first, n) for first, _, n in batches] == [(0, 4)]
    secret = os.urandom(32)
    header = c4.new_header(sealed.data_key, [c4.public_key_of(secret)])
    out = io.BytesIO()
    crypt4gh.lib.decrypt([(0, secret, None)], io.BytesIO(header + batches[0][1]), out)
    assert out.getvalue() == plain


def test_direct_file_is_the_bytes_written_at_any_sizes(tmp_path: Path) -> None:
    """Pieces of every size across the (small, here) buffers and the unaligned tail: the
    file is their concatenation, cut to its length."""
    path = tmp_path / "x.part"
    f = directio.open_object(path, buffer_size=2 * directio.ALIGN)
    assert f is not None, "O_DIRECT refused on the test filesystem"
    pieces = [os.urandom(n) for n in (1, 4095, 4096, 4097, 3 * 4096 + 7, 0, 65564, 13)]
    for piece in pieces:
        f.write(memoryview(piece) if len(piece) % 2 else piece)
    assert f.tell() == sum(map(len, pieces))
    f.close()
    assert path.read_bytes() == b"".join(pieces)
    f.discard()  # a second close does nothing (its descriptor may be another file's)


def test_direct_file_windows_and_writes_interleave(tmp_path: Path) -> None:
    """The sealer's way (a window filled in place, then committed, less than it asked
    for too) and plain writes, across buffer hand-offs that carry a partial block."""
    path = tmp_path / "x.part"
    f = directio.open_object(path, buffer_size=3 * directio.ALIGN)
    assert f is not None
    assert f.window(3 * directio.ALIGN) is None  # larger than a buffer can take
    expected = bytearray()
    for n in (5000, 100, 7000, 8191, 1, 4096, 6000):
        piece = os.urandom(n)
        window = f.window(n)
        assert window is not None and len(window) == n
        window[:] = piece
        keep = n - 3 if n > 3 else n
        f.commit(window, keep)
        expected += piece[:keep]
        more = os.urandom(n % 777)
        f.write(more)
        expected += more
        assert f.tell() == len(expected)
    f.close()
    assert path.read_bytes() == bytes(expected)


def sealed_into_store(store: genome_store.GenomeStore, plain: bytes) -> objects.Sealed:
    record = os.urandom(16)
    with store.writer(record, "did:key:zP") as w:
        sealed = objects.seal_stream(record, "did:key:zP", io.BytesIO(plain),
                                     batch_sink=w.add_batch, reserve=w.reserve)
        w.finish(sealed.meta, {}, b"", None, None, {"sha256": sealed.sha256})
    return sealed


@pytest.mark.parametrize("direct", [True, False])
def test_the_store_holds_a_crypt4gh_body_either_way(
        direct: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(genome_store, "DIRECT_IO", direct)
    opened: list[bool] = []
    real = directio.open_object
    monkeypatch.setattr(directio, "open_object",
                        lambda path: (f := real(path), opened.append(f is not None))[0])
    store = genome_store.GenomeStore(tmp_path)
    plain = os.urandom(20 * SEG + 999)
    sealed = sealed_into_store(store, plain)
    assert opened == ([True] if direct else [])
    secret = os.urandom(32)
    header = c4.new_header(sealed.data_key, [c4.public_key_of(secret)])
    body = store.file_of(sealed.meta.record_id).read_bytes()
    assert len(body) == sealed.meta.size
    out = io.BytesIO()
    crypt4gh.lib.decrypt([(0, secret, None)], io.BytesIO(header + body), out)
    assert out.getvalue() == plain
    assert not list(store.files.glob("*.part"))


def test_a_refused_o_direct_writes_through_the_page_cache(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A filesystem refusing ``O_DIRECT`` (tmpfs: EINVAL at open, others at the first
    write) gets no direct file: the store writes as before and the object is whole."""
    real_open, real_pwrite = os.open, os.pwrite
    flag = os.O_DIRECT

    def refusing_open(path: Any, flags: int, mode: int = 0o777) -> int:
        if flags & flag:
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_open(path, flags, mode)

    monkeypatch.setattr(directio.os, "open", refusing_open)
    assert directio.open_object(tmp_path / "a") is None
    monkeypatch.setattr(directio.os, "open", real_open)

    def refusing_pwrite(fd: int, data: Any, offset: int) -> int:
        raise OSError(errno.EINVAL, "Invalid argument")

    monkeypatch.setattr(directio.os, "pwrite", refusing_pwrite)
    assert directio.open_object(tmp_path / "b") is None
    assert not (tmp_path / "b").exists()
    monkeypatch.setattr(directio.os, "pwrite", real_pwrite)

    monkeypatch.setattr(directio.os, "open", refusing_open)
    store = genome_store.GenomeStore(tmp_path / "store")
    plain = os.urandom(3 * SEG + 5)
    sealed = sealed_into_store(store, plain)
    parts = store.parts(sealed.meta.record_id, range(sealed.meta.segments))
    assert objects.read_range([sealed.data_key], parts, root=sealed.meta.root,
                              segments=sealed.meta.segments, plain_size=len(plain),
                              start=0, end=len(plain)) == plain


def test_a_failed_direct_write_fails_the_object(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """An I/O error on the writer thread is raised to the sealer (by a later write or by
    ``finish``), and nothing is kept: no object, no file."""
    real_pwrite = os.pwrite
    calls = itertools.count()

    def failing_after_probe(fd: int, data: Any, offset: int) -> int:
        if next(calls) == 0:  # the probe at open
            return real_pwrite(fd, data, offset)
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(directio.os, "pwrite", failing_after_probe)
    store = genome_store.GenomeStore(tmp_path)
    record = os.urandom(16)
    for size in (SEG, 200 * SEG):  # failing at finish (the tail), and mid-stream
        with pytest.raises(OSError, match="Input/output"), store.writer(record, "did:key:zP") as w:
            sealed = objects.seal_stream(record, "did:key:zP", io.BytesIO(os.urandom(size)),
                                         batch_sink=w.add_batch)
            w.finish(sealed.meta, {}, b"", None, None, {"sha256": sealed.sha256})
        assert store.holder(record) is None and not list(store.files.iterdir())
        calls = itertools.count()
