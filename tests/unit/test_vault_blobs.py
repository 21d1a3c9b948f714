"""Tests for phrchain.vault.blobs: durable, atomic, verifiable, erasable."""

from __future__ import annotations

import hashlib
import io
import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from phrchain.core import keys, rfc9162
from phrchain.core.errors import ErrorCode
from phrchain.vault import crypto, errors
from phrchain.vault.blobs import BlobStore
from phrchain.vault.crypto import RecordMeta, StreamSealer
from phrchain.vault.errors import VaultError

PATIENT = "did:key:z6MkpatientPATIENTpatient"
READER = keys.EncryptionKey(bytes(range(1, 33)))
READER_DID = "did:key:z6MkreaderREADERreader"
SRC = Path(__file__).resolve().parents[2] / "src"


def expect(code: ErrorCode) -> Any:
    return pytest.raises(VaultError, match=rf"\[vault/{code.code} {code.name}\]")


def rid(n: int) -> bytes:
    return n.to_bytes(16, "big")


def seal(n: int, length: int = 1000, chunk_size: int = 64) -> crypto.Sealed:
    plaintext = random.Random(n).randbytes(length)
    return crypto.seal(rid(n), PATIENT, plaintext, chunk_size=chunk_size)


def wrapped_for(sealed: crypto.Sealed) -> dict[str, bytes]:
    return {READER_DID: crypto.wrap_key(sealed.data_key, READER.public_key,
                                        sealed.record_id, READER_DID)}


def count(store: BlobStore, table: str) -> int:
    with sqlite3.connect(store.path) as db:
        n: int = db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]  # noqa: S608
    return n


@pytest.fixture
def store(tmp_path: Path) -> Iterator[BlobStore]:
    with BlobStore(tmp_path / "vault") as s:
        yield s


def read_back(store: BlobStore, sealed: crypto.Sealed) -> bytes:
    """What a reader does: fetch the wrapped key and chunks, verify, decrypt."""
    meta = store.get_meta(sealed.record_id)
    key = crypto.unwrap_key(store.get_wrapped_key(sealed.record_id, READER_DID), READER,
                            sealed.record_id, READER_DID)
    out = io.BytesIO()
    crypto.open_stream(sealed.record_id, meta.patient, key, store.iter_chunks(sealed.record_id),
                       out, leaf_hashes=store.leaf_hashes(sealed.record_id),
                       expected_hash=sealed.hash, expected_commitment=sealed.commitment,
                       chunk_size=meta.chunk_size, size=meta.size)
    return out.getvalue()


def test_put_and_read_back(store: BlobStore) -> None:
    sealed = seal(1)
    store.put_sealed(sealed, wrapped_for(sealed))
    assert store.get_meta(sealed.record_id) == sealed.meta
    assert store.leaf_hashes(sealed.record_id) == sealed.leaf_hashes
    assert read_back(store, sealed) == random.Random(1).randbytes(1000)
    assert crypto.open_sealed(rid(1), PATIENT, sealed.data_key,
                              [p.data for p in store.get_chunks(rid(1), range(17))],
                              expected_hash=sealed.hash, expected_commitment=sealed.commitment,
                              chunk_size=64) == random.Random(1).randbytes(1000)
    assert store.readers(rid(1)) == [READER_DID]


def test_chunk_proofs_verify(store: BlobStore) -> None:
    sealed = seal(2)
    store.put_sealed(sealed, {})
    for i in range(len(sealed.chunks)):
        part = store.get_chunk(rid(2), i)
        assert part.index == i and part.data == sealed.chunks[i]
        rfc9162.verify_inclusion(rfc9162.leaf_hash(part.data), i, len(sealed.chunks),
                                 part.proof, sealed.hash)
    with expect(errors.BAD_RANGE):
        store.get_chunk(rid(2), len(sealed.chunks))
    with expect(errors.BAD_RANGE):
        store.get_chunk(rid(2), -1)


def test_range_reads_through_the_store(store: BlobStore) -> None:
    sealed = seal(3, length=5000, chunk_size=100)
    plaintext = random.Random(3).randbytes(5000)
    store.put_sealed(sealed, {})
    meta = store.get_meta(rid(3))
    for start, length in ((0, 1), (60, 200), (68, 100), (4999, 1), (1234, 2345), (0, 5000),
                          (10, 0)):
        parts = store.get_range(rid(3), start, length)
        assert crypto.read_range(rid(3), PATIENT, sealed.data_key, parts, start=start,
                                 length=length, expected_hash=meta.hash, count=meta.chunks,
                                 size=meta.size, chunk_size=meta.chunk_size) == \
            plaintext[start:start + length]
    parts = store.get_range(rid(3), 60, 200)
    parts[1] = crypto.ChunkPart(parts[1].index, parts[1].data, parts[0].proof)
    with expect(errors.BAD_PROOF):
        crypto.read_range(rid(3), PATIENT, sealed.data_key, parts, start=60, length=200,
                          expected_hash=meta.hash, count=meta.chunks, size=meta.size,
                          chunk_size=meta.chunk_size)
    with expect(errors.BAD_RANGE):
        store.get_range(rid(3), 4990, 11)


def test_put_refuses_what_does_not_match(store: BlobStore) -> None:
    sealed = seal(4)
    bad_hash = RecordMeta(rid(4), PATIENT, bytes(32), sealed.size, len(sealed.chunks),
                          sealed.commitment, 64)
    with expect(errors.HASH_MISMATCH):
        store.put(bad_hash, sealed.chunks, {})
    altered = list(sealed.chunks)
    altered[3] = bytes([altered[3][0] ^ 1]) + altered[3][1:]
    with expect(errors.HASH_MISMATCH):
        store.put(sealed.meta, altered, {})
    with expect(errors.BAD_LAYOUT):
        store.put(sealed.meta, sealed.chunks[:-1], {})
    with expect(errors.BAD_LAYOUT):
        store.put(sealed.meta, [*sealed.chunks, sealed.chunks[0]], {})
    with expect(errors.BAD_LAYOUT):
        store.put(sealed.meta, [sealed.chunks[0][:-1], *sealed.chunks[1:]], {})
    with expect(errors.MALFORMED_WRAPPED_KEY):
        store.put_sealed(sealed, {READER_DID: b"short"})
    for table in ("records", "record_chunks", "chunks", "wrapped_keys"):
        assert count(store, table) == 0, table
    with expect(errors.RECORD_NOT_FOUND):
        store.get_meta(rid(4))


def test_put_again_adds_readers_conflict_refused(store: BlobStore) -> None:
    sealed = seal(5)
    store.put_sealed(sealed, {})
    store.put_sealed(sealed, wrapped_for(sealed))
    assert store.readers(rid(5)) == [READER_DID]
    other = crypto.seal(rid(5), PATIENT, b"another record under the same id", chunk_size=64)
    with expect(errors.RECORD_CONFLICT):
        store.put_sealed(other, {})
    assert read_back(store, sealed) == random.Random(5).randbytes(1000)


def test_wrapped_keys(store: BlobStore) -> None:
    sealed = seal(6)
    store.put_sealed(sealed, {})
    with expect(errors.READER_NOT_FOUND):
        store.get_wrapped_key(rid(6), READER_DID)
    wrapped = wrapped_for(sealed)[READER_DID]
    store.put_wrapped_key(rid(6), READER_DID, wrapped)
    store.put_wrapped_key(rid(6), "did:key:z6Mkother", wrapped)
    assert store.get_wrapped_key(rid(6), READER_DID) == wrapped
    assert store.readers(rid(6)) == ["did:key:z6Mkother", READER_DID]
    with expect(errors.RECORD_NOT_FOUND):
        store.put_wrapped_key(rid(99), READER_DID, wrapped)
    with expect(errors.RECORD_NOT_FOUND):
        store.readers(rid(99))
    with expect(errors.MALFORMED_WRAPPED_KEY):
        store.put_wrapped_key(rid(6), READER_DID, wrapped[:79])
    with expect(errors.INVALID_ARGUMENT):
        store.get_meta(b"short")


def test_survives_reopen(tmp_path: Path) -> None:
    sealed = seal(7)
    with BlobStore(tmp_path) as s:
        s.put_sealed(sealed, wrapped_for(sealed))
    with BlobStore(tmp_path) as s:
        assert s.recovered == 0
        assert read_back(s, sealed) == random.Random(7).randbytes(1000)
        assert s._conn().execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert s._conn().execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert s._conn().execute("PRAGMA secure_delete").fetchone()[0] == 1


def test_stream_put_large_in_small_batches(tmp_path: Path) -> None:
    plaintext = random.Random(8).randbytes(200_000)
    with BlobStore(tmp_path, batch_bytes=10_000) as s:  # ~20 commits while pending
        sealer = StreamSealer(rid(8), PATIENT, io.BytesIO(plaintext), len(plaintext),
                              chunk_size=1000)
        meta = s.put_stream(sealer, {})
        assert meta == sealer.meta == s.get_meta(rid(8)) and meta.chunks == 201
        out = io.BytesIO()
        crypto.open_stream(rid(8), PATIENT, sealer.data_key, s.iter_chunks(rid(8)), out,
                           leaf_hashes=s.leaf_hashes(rid(8)), expected_hash=meta.hash,
                           expected_commitment=meta.commitment, chunk_size=1000)
        assert out.getvalue() == plaintext
        with expect(errors.RECORD_CONFLICT):  # a second stream under the same id
            s.put_stream(StreamSealer(rid(8), PATIENT, io.BytesIO(plaintext),
                                      len(plaintext), chunk_size=1000), {})


class _Generated(io.RawIOBase):
    """A readable source of ``length`` pseudo-random bytes with no backing buffer."""

    def __init__(self, length: int) -> None:
        self._left, self._rng = length, random.Random(length)

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        n = self._left if n < 0 else min(n, self._left)
        self._left -= n
        return self._rng.randbytes(n)


def test_streaming_holds_only_a_few_chunks(tmp_path: Path) -> None:
    length = 24 * crypto.CHUNK_SIZE
    with BlobStore(tmp_path) as s:
        tracemalloc.start()
        try:
            sealer = StreamSealer(rid(13), PATIENT, _Generated(length), length)
            meta = s.put_stream(sealer, {})
            _, put_peak = tracemalloc.get_traced_memory()
            tracemalloc.reset_peak()
            digest = hashlib.sha256()
            written = crypto.open_stream(rid(13), PATIENT, sealer.data_key,
                                         s.iter_chunks(rid(13)), DigestSink(digest),
                                         leaf_hashes=s.leaf_hashes(rid(13)),
                                         expected_hash=meta.hash,
                                         expected_commitment=meta.commitment)
            _, get_peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert written == length and meta.chunks == 25
    assert digest.digest() == hashlib.sha256(_Generated(length).read()).digest()
    # a few chunks in flight (source read, ciphertext, leaf-hash input, SQLite bind),
    # whatever the object size: 24 MiB here
    assert put_peak < 8 * crypto.CHUNK_SIZE, put_peak
    assert get_peak < 8 * crypto.CHUNK_SIZE, get_peak


class DigestSink:
    def __init__(self, digest: Any) -> None:
        self._digest = digest

    def write(self, data: bytes) -> None:
        self._digest.update(data)


def test_failed_stream_leaves_nothing(tmp_path: Path) -> None:
    with BlobStore(tmp_path, batch_bytes=1000) as s:
        keep = seal(9)
        s.put_sealed(keep, {})
        sealer = StreamSealer(rid(10), PATIENT, io.BytesIO(b"x" * 9000), 10_000,
                              chunk_size=100)  # source ends early
        with expect(errors.STREAM_LENGTH):
            s.put_stream(sealer, {})
        with expect(errors.RECORD_NOT_FOUND):
            s.get_meta(rid(10))
        assert count(s, "records") == 1
        assert count(s, "chunks") == count(s, "record_chunks") == len(keep.chunks)


def test_pending_record_is_invisible_and_recovered(tmp_path: Path) -> None:
    """Simulate what a crash between batches leaves: a pending row and some chunks."""
    with BlobStore(tmp_path) as s:
        keep = seal(11)
        s.put_sealed(keep, {})
    half = seal(12)
    with sqlite3.connect(tmp_path / "blobs.sqlite3") as db:
        db.execute("INSERT INTO records (record, patient, hash, size, chunks, chunk_size, "
                   "commitment, status) VALUES (?, ?, ?, ?, ?, 64, ?, 'pending')",
                   (rid(12), PATIENT, half.hash, half.size, len(half.chunks), half.commitment))
        for i, chunk in enumerate(half.chunks[:5]):
            leaf = rfc9162.leaf_hash(chunk)
            db.execute("INSERT INTO chunks (leaf, data) VALUES (?, ?)", (leaf, chunk))
            db.execute("INSERT INTO record_chunks VALUES (?, ?, ?)", (rid(12), i, leaf))
        db.execute("INSERT INTO chunks (leaf, data) VALUES (?, ?)", (bytes(32), b"orphan"))
    with BlobStore(tmp_path, recover=False) as s:  # a reader process leaves it alone
        assert s.recovered == 0 and count(s, "records") == 2
        with expect(errors.RECORD_NOT_FOUND):  # and never shows it
            s.get_meta(rid(12))
    with BlobStore(tmp_path) as s:
        assert s.recovered == 1
        with expect(errors.RECORD_NOT_FOUND):
            s.get_meta(rid(12))
        assert count(s, "chunks") == len(keep.chunks)
        assert s.leaf_hashes(rid(11)) == keep.leaf_hashes


# --- shredding ---------------------------------------------------------------------------------

def files_containing(directory: Path, needle: bytes) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.is_file()
                  and needle in p.read_bytes())


def test_shred_removes_the_bytes_from_every_file(tmp_path: Path) -> None:
    with BlobStore(tmp_path) as s:
        gone, kept = seal(20, length=300_000, chunk_size=65536), seal(21)
        s.put_sealed(gone, wrapped_for(gone))
        s.put_sealed(kept, wrapped_for(kept))
        windows = [c[1000:1064] for c in gone.chunks]  # one distinctive window per chunk
        wrapped = s.get_wrapped_key(rid(20), READER_DID)
        assert all(files_containing(tmp_path, w) for w in windows)  # the test can see them
        assert files_containing(tmp_path, wrapped)
        report = s.shred(rid(20))
        assert (report.chunks_deleted, report.chunks_kept_shared,
                report.wrapped_keys_deleted) == (len(gone.chunks), 0, 1)
        names = {p.name for p in tmp_path.iterdir()}
        assert {"blobs.sqlite3", "blobs.sqlite3-wal"} <= names
        for window in [*windows, wrapped, gone.hash, gone.commitment]:
            assert files_containing(tmp_path, window) == [], window.hex()
        with expect(errors.RECORD_NOT_FOUND):
            s.get_meta(rid(20))
        with expect(errors.RECORD_NOT_FOUND):
            s.shred(rid(20))
        assert read_back(s, kept) == random.Random(21).randbytes(1000)
    for window in windows:  # still gone once the last connection closed
        assert files_containing(tmp_path, window) == []


def test_shred_reports_a_wal_it_could_not_truncate(tmp_path: Path) -> None:
    with BlobStore(tmp_path) as s:
        a, b = seal(22), seal(23)
        s.put_sealed(a, {})
        s.put_sealed(b, {})
        reader = sqlite3.connect(s.path)  # another process holding an old snapshot
        reader.execute("BEGIN")
        reader.execute("SELECT COUNT(*) FROM chunks").fetchone()
        with expect(errors.SHRED_INCOMPLETE):
            s.shred(rid(22))
        with expect(errors.RECORD_NOT_FOUND):  # the rows are gone all the same
            s.get_meta(rid(22))
        assert files_containing(tmp_path, a.chunks[3][:64]) == ["blobs.sqlite3-wal"]
        reader.execute("COMMIT")
        reader.close()
        s.shred(rid(23))  # the next successful shred truncates the WAL
        assert files_containing(tmp_path, a.chunks[3][:64]) == []


def test_shred_keeps_a_chunk_another_record_refers_to(tmp_path: Path) -> None:
    """A client may upload a copy of A's ciphertext as record B (the vault cannot
    decrypt to notice). Shredding A must not corrupt B; shredding B then removes it."""
    with BlobStore(tmp_path) as s:
        a = seal(30)
        s.put_sealed(a, {})
        copy = RecordMeta(rid(31), PATIENT, a.hash, a.size, len(a.chunks), a.commitment, 64)
        s.put(copy, a.chunks, {})
        report = s.shred(rid(30))
        assert (report.chunks_deleted, report.chunks_kept_shared) == (0, len(a.chunks))
        assert [p.data for p in s.get_chunks(rid(31), range(len(a.chunks)))] == a.chunks
        report = s.shred(rid(31))
        assert report.chunks_deleted == len(a.chunks)
        assert files_containing(tmp_path, a.chunks[2][:64]) == []


# --- threads and crashes --------------------------------------------------------------------------

def test_concurrent_readers_and_writers(tmp_path: Path) -> None:
    failures: list[BaseException] = []
    with BlobStore(tmp_path) as s:
        base = [seal(40 + i) for i in range(4)]
        for sealed in base:
            s.put_sealed(sealed, {})

        def reader(n: int) -> None:
            try:
                for _ in range(30):
                    sealed = base[n % 4]
                    indices = range(len(sealed.chunks))
                    parts = s.get_chunks(sealed.record_id, indices)
                    assert [p.data for p in parts] == sealed.chunks
            except BaseException as exc:
                failures.append(exc)

        def writer(n: int) -> None:
            try:
                for j in range(5):
                    sealed = seal(100 + n * 10 + j)
                    s.put_sealed(sealed, {})
                    if j % 2:
                        s.shred(sealed.record_id)
            except BaseException as exc:
                failures.append(exc)

        threads = [threading.Thread(target=reader, args=(i,)) for i in range(4)]
        threads += [threading.Thread(target=writer, args=(i,)) for i in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert failures == []
        assert count(s, "records") == 4 + 3 * 3


CHILD = textwrap.dedent("""
    import io, random, sys, time
    from phrchain.vault import crypto
    from phrchain.vault.blobs import BlobStore
    directory, n = sys.argv[1], int(sys.argv[2])
    store = BlobStore(directory, batch_bytes=50_000)
    plaintext = random.Random(n).randbytes(2_000_000)
    class Announce:  # a source that says how far it got
        def __init__(self): self.src, self.seen = io.BytesIO(plaintext), 0
        def read(self, k):
            data = self.src.read(k)
            self.seen += len(data)
            if self.seen >= 500_000 and self.seen - len(data) < 500_000:
                sys.stdout.write("mid\\n"); sys.stdout.flush()
            return data
    sealer = crypto.StreamSealer(n.to_bytes(16, "big"), "did:key:zchild", Announce(),
                                 len(plaintext), chunk_size=4096, data_key=bytes(32))
    store.put_stream(sealer, {})
    sys.stdout.write("done " + sealer.meta.hash.hex() + "\\n"); sys.stdout.flush()
    time.sleep(60)
""")


@pytest.mark.slow
def test_sigkill_mid_write_leaves_whole_record_or_nothing(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    outcomes = []
    for n, wait_for in [(1, "mid"), (2, "mid"), (3, "done"), (4, "mid")]:
        with BlobStore(tmp_path) as s:  # something committed before, that must survive
            keep = seal(200 + n)
            s.put_sealed(keep, {})
        proc = subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path), str(n)],
                                stdout=subprocess.PIPE, env=env)
        assert proc.stdout is not None
        line = proc.stdout.readline().decode()
        while not line.startswith(wait_for):
            assert line, "child died before reaching the kill point"
            line = proc.stdout.readline().decode()
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        assert proc.returncode == -signal.SIGKILL
        with BlobStore(tmp_path) as s:
            record = n.to_bytes(16, "big")
            try:
                meta = s.get_meta(record)
            except VaultError as exc:
                assert exc.error is errors.RECORD_NOT_FOUND
                outcomes.append("nothing")
            else:
                plaintext = random.Random(n).randbytes(2_000_000)
                out = io.BytesIO()
                crypto.open_stream(record, "did:key:zchild", bytes(32), s.iter_chunks(record),
                                   out, leaf_hashes=s.leaf_hashes(record),
                                   expected_hash=meta.hash, expected_commitment=meta.commitment,
                                   chunk_size=4096)
                assert out.getvalue() == plaintext
                outcomes.append("whole")
            outcomes[-1] += f" (recovered {s.recovered})"
            assert s.leaf_hashes(keep.record_id) == keep.leaf_hashes
            with sqlite3.connect(s.path) as db:  # no orphans either way
                assert db.execute("SELECT COUNT(*) FROM chunks WHERE leaf NOT IN "
                                  "(SELECT leaf FROM record_chunks)").fetchone()[0] == 0
                assert db.execute("SELECT COUNT(*) FROM records WHERE status != 'active'"
                                  ).fetchone()[0] == 0
                assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert outcomes[2] == "whole (recovered 0)"
    # the kills at "mid" landed while the record was pending: reopening removed it
    assert [outcomes[i] for i in (0, 1, 3)] == ["nothing (recovered 1)"] * 3


def test_put_many_is_one_transaction_all_or_nothing(store: BlobStore) -> None:
    batch = [seal(n, 200) for n in range(20, 25)]
    bad = seal(25, 200)
    wrong = crypto.RecordMeta(bad.record_id, PATIENT, bytes(32), bad.size, len(bad.chunks),
                              bad.commitment, 64)
    items = [(s.meta, s.chunks, wrapped_for(s)) for s in batch]
    with expect(errors.HASH_MISMATCH):
        store.put_many([*items, (wrong, bad.chunks, wrapped_for(bad))])
    assert store.record_ids() == []  # none of the good ones either
    with expect(errors.RECORD_CONFLICT):
        store.put_many([*items, items[0]])
    assert store.record_ids() == []
    store.put_many(items)
    assert store.record_ids() == sorted(s.record_id for s in batch)
    for s in batch:
        assert read_back(store, s) == random.Random(s.record_id[-1]).randbytes(200)
    store.put_many(items)  # again: already stored, keys added one by one, no conflict
    assert count(store, "records") == 5
