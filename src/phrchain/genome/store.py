"""The vault's store of genomic objects, beside the record blob store (``vault/blobs.py``):
one SQLite file ``genome.sqlite3`` (WAL, ``synchronous=FULL``, ``secure_delete=ON``) for
what describes the objects, and one file per object, ``objects/<record>.c4gh``, holding
its crypt4gh segments back to back: the body of a crypt4gh file, which a header for a
reader turns into a standard one, and which a range read seeks in (segment ``i`` is at
``i * CIPHER_SEGMENT_SIZE``).

Tables: ``objects`` (record → patient, root, sizes, commitment, sealed descriptor, local
author, region index, checksums, status ``pending|active``), ``segments`` ((record,
index) → leaf hash), ``packets`` ((record, reader) → one crypt4gh
header packet), ``reads`` (who read which range or region of which object, when: what
the patient sees). A put writes ``<record>.part``, fsyncs it, renames it and then
turns the object ``active`` with its leaves and packets in one transaction; a crash leaves
a ``pending`` row or a ``.part`` file, deleted on the next open. Erasure overwrites the
object file with zeros before unlinking it, and drops every header packet (the only
place the data key exists), so the segments are crypto-shredded even where the
filesystem keeps old blocks. Granting a reader adds a packet, revoking one
deletes it: segments are never rewritten.

The object file is written around the page cache (``directio.py``: ``O_DIRECT`` from
page-aligned buffers on a writer thread, ``DIRECT_IO``) where the filesystem allows it,
else through it with a background ``fdatasync`` every ``WRITEBACK_BYTES``.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Final

from phrchain.core import rfc9162
from phrchain.core.errors import CodedError
from phrchain.genome import directio, errors
from phrchain.genome.crypt4gh import CIPHER_SEGMENT_SIZE
from phrchain.genome.objects import GenomeMeta, SegmentPart

TREES_CACHED: Final = 8
_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS objects (
    record BLOB PRIMARY KEY, patient TEXT NOT NULL, root BLOB NOT NULL, size INTEGER NOT NULL,
    segments INTEGER NOT NULL, plain_size INTEGER NOT NULL, commitment BLOB NOT NULL UNIQUE,
    descriptor BLOB NOT NULL, author TEXT, idx TEXT NOT NULL, checksums TEXT NOT NULL,
    status TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS segments (
    record BLOB NOT NULL, idx INTEGER NOT NULL, leaf BLOB NOT NULL,
    PRIMARY KEY (record, idx)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS packets (
    record BLOB NOT NULL, reader TEXT NOT NULL, packet BLOB NOT NULL,
    PRIMARY KEY (record, reader)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS reads (
    n INTEGER PRIMARY KEY, record BLOB NOT NULL, accessor TEXT NOT NULL,
    request TEXT NOT NULL, what TEXT NOT NULL, decision TEXT NOT NULL, at_ms INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS reads_by_record ON reads (record, n);
"""


@dataclass(frozen=True, slots=True)
class Held:
    meta: GenomeMeta
    descriptor: bytes
    author: str | None
    index: dict[str, Any] | None
    checksums: dict[str, str]


WRITEBACK_BYTES = 32 << 20  # see _Writer._written; 0: leave it all to the last fsync
DIRECT_IO = True  # objects written around the page cache (directio.py) where allowed


class GenomeStore:
    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / "genome.sqlite3"
        self.files = directory / "objects"
        self.files.mkdir(exist_ok=True)
        self._local = threading.local()
        self._write_lock = threading.Lock()
        self._trees: OrderedDict[bytes, _Tree] = OrderedDict()
        self._trees_lock = threading.Lock()
        self._conn().executescript(_SCHEMA)
        with self._tx() as db:  # a crash mid-put leaves pending rows: drop them
            db.execute("DELETE FROM segments WHERE record IN "
                       "(SELECT record FROM objects WHERE status = 'pending')")
            db.execute("DELETE FROM objects WHERE status = 'pending'")
        for part in self.files.glob("*.part"):
            part.unlink()

    def _conn(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = FULL")
            db.execute("PRAGMA secure_delete = ON")
            db.execute("PRAGMA busy_timeout = 5000")
            self._local.db = db
        return db

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        db = self._conn()
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    # -- writing ---------------------------------------------------------------------
    @contextlib.contextmanager
    def writer(self, record_id: bytes, patient: str) -> Iterator[_Writer]:
        """Stream an object's segments into its file (no transaction and no lock held
        meanwhile: reads and grants go on); :meth:`_Writer.finish` makes it visible."""
        with self._write_lock, self._tx() as db:
            if db.execute("SELECT 1 FROM objects WHERE record = ?",
                          (record_id,)).fetchone() is not None:
                raise errors.NOT_GENOME_OBJECT(f"{record_id.hex()} is already held")
            db.execute("INSERT INTO objects VALUES (?, ?, ?, 0, 0, 0, ?, ?, NULL, '', '{}', "
                       "'pending')", (record_id, patient, bytes(32), record_id, b""))
        w = _Writer(self, record_id, self.file_of(record_id))
        try:
            yield w
            if not w.done:
                raise errors.BAD_RANGE("the object was not finished")
        except BaseException:
            w.discard()
            with self._write_lock, self._tx() as tx:
                tx.execute("DELETE FROM segments WHERE record = ?", (record_id,))
                tx.execute("DELETE FROM objects WHERE record = ?", (record_id,))
            raise

    def put_packet(self, record_id: bytes, reader: str, packet: bytes) -> None:
        with self._write_lock, self._tx() as db:
            self._active(db, record_id)
            db.execute("INSERT OR REPLACE INTO packets VALUES (?, ?, ?)",
                       (record_id, reader, packet))

    def drop_packet(self, record_id: bytes, reader: str) -> bool:
        with self._write_lock, self._tx() as db:
            self._active(db, record_id)
            return db.execute("DELETE FROM packets WHERE record = ? AND reader = ?",
                              (record_id, reader)).rowcount > 0

    def log_read(self, record_id: bytes, accessor: str, request: str, what: str,
                 decision: str, at_ms: int) -> None:
        with self._write_lock, self._tx() as db:
            db.execute("INSERT INTO reads (record, accessor, request, what, decision, at_ms)"
                       " VALUES (?, ?, ?, ?, ?, ?)",
                       (record_id, accessor, request, what, decision, at_ms))

    def file_of(self, record_id: bytes) -> Path:
        return self.files / f"{record_id.hex()}.c4gh"

    def shred(self, record_id: bytes) -> bool:
        """Erase an object: its packets and rows, then its file, zeroed before it is
        unlinked (its read log stays: the patient's record of accesses, no content)."""
        with self._trees_lock:
            self._trees.pop(record_id, None)
        with self._write_lock, self._tx() as db:
            n = db.execute("DELETE FROM objects WHERE record = ?", (record_id,)).rowcount
            db.execute("DELETE FROM segments WHERE record = ?", (record_id,))
            db.execute("DELETE FROM packets WHERE record = ?", (record_id,))
        self._conn().execute("PRAGMA wal_checkpoint(TRUNCATE)")
        path = self.file_of(record_id)
        if path.exists():
            with path.open("r+b") as f:
                size = f.seek(0, os.SEEK_END)
                f.seek(0)
                for at in range(0, size, 1 << 20):
                    f.write(bytes(min(1 << 20, size - at)))
                f.flush()
                os.fsync(f.fileno())
            path.unlink()
        return n > 0

    # -- reading ---------------------------------------------------------------------
    @staticmethod
    def _active(db: sqlite3.Connection, record_id: bytes) -> Held:
        row = db.execute("SELECT patient, root, size, segments, plain_size, commitment, "
                         "descriptor, author, idx, checksums FROM objects "
                         "WHERE record = ? AND status = 'active'", (record_id,)).fetchone()
        if row is None:
            raise errors.NOT_GENOME_OBJECT(record_id.hex())
        meta = GenomeMeta(record_id, row[0], row[1], row[2], row[3], row[4], row[5])
        return Held(meta, row[6], row[7], json.loads(row[8]) if row[8] else None,
                    json.loads(row[9]))

    def get(self, record_id: bytes) -> Held:
        return self._active(self._conn(), record_id)

    def by_commitment(self, commitment: bytes) -> Held:
        row = self._conn().execute("SELECT record FROM objects WHERE commitment = ? AND "
                                   "status = 'active'", (commitment,)).fetchone()
        if row is None:
            raise errors.NOT_GENOME_OBJECT(commitment.hex()[:16])
        return self.get(row[0])

    def packet(self, record_id: bytes, reader: str) -> bytes:
        row = self._conn().execute("SELECT packet FROM packets WHERE record = ? AND "
                                   "reader = ?", (record_id, reader)).fetchone()
        if row is None:
            raise errors.READER_UNKNOWN(reader)
        packet: bytes = row[0]
        return packet

    def readers(self, record_id: bytes) -> list[str]:
        return [r for (r,) in self._conn().execute(
            "SELECT reader FROM packets WHERE record = ? ORDER BY reader", (record_id,))]

    def holder(self, record_id: bytes) -> tuple[str, str | None] | None:
        """``(patient, local author)`` of an active object, None if not held (the vault's
        record routes decide and audit such a record like any other)."""
        row = self._conn().execute("SELECT patient, author FROM objects WHERE record = ? "
                                   "AND status = 'active'", (record_id,)).fetchone()
        return None if row is None else (row[0], row[1])

    def elsewhere(self, record_hex: str) -> CodedError:
        """For a caller the chain permitted: the object's DRS id, where to read it."""
        held = self.get(bytes.fromhex(record_hex))
        return errors.GENOMIC_OBJECT(f"DRS id {held.meta.commitment.hex()}")

    def objects_of(self, patient: str) -> list[tuple[bytes, bytes]]:
        """``(record id, commitment)`` of the patient's active objects, oldest first."""
        return [(r, c) for r, c in self._conn().execute(
            "SELECT record, commitment FROM objects WHERE patient = ? AND status = 'active' "
            "ORDER BY rowid", (patient,))]

    def record_ids(self) -> list[bytes]:
        """Ids of every active object held, sorted (the erasure scan walks these)."""
        return [r for (r,) in self._conn().execute(
            "SELECT record FROM objects WHERE status = 'active' ORDER BY record")]

    def leaves(self, record_id: bytes) -> list[bytes]:
        return [leaf for (leaf,) in self._conn().execute(
            "SELECT leaf FROM segments WHERE record = ? ORDER BY idx", (record_id,))]

    def _tree(self, record_id: bytes) -> _Tree:
        with self._trees_lock:
            tree = self._trees.pop(record_id, None)
            if tree is None:
                tree = _Tree(self.leaves(record_id))
            self._trees[record_id] = tree  # most recent last
            while len(self._trees) > TREES_CACHED:
                self._trees.popitem(last=False)
            return tree

    def parts(self, record_id: bytes, indices: range) -> list[SegmentPart]:
        """Segments ``indices`` with their inclusion proofs against the object's root."""
        held = self.get(record_id)
        if indices and not 0 <= indices.start <= indices[-1] < held.meta.segments:
            raise errors.BAD_RANGE(f"segments {indices.start}..{indices.stop - 1}")
        tree = self._tree(record_id)
        step = CIPHER_SEGMENT_SIZE
        try:
            with self.file_of(record_id).open("rb") as f:
                f.seek(indices.start * step)
                data = f.read(len(indices) * step)
        except FileNotFoundError:  # shredded meanwhile
            raise errors.NOT_GENOME_OBJECT(record_id.hex()) from None
        return [SegmentPart(i, data[k * step:(k + 1) * step], tuple(tree.proof(i)))
                for k, i in enumerate(indices)]

    def iter_segments(self, record_id: bytes) -> Iterator[bytes]:
        """Every segment in order, read from the object's file."""
        self.get(record_id)
        try:
            with self.file_of(record_id).open("rb") as f:
                while segment := f.read(CIPHER_SEGMENT_SIZE):
                    yield segment
        except FileNotFoundError:
            raise errors.NOT_GENOME_OBJECT(record_id.hex()) from None

    def reads(self, record_id: bytes) -> list[dict[str, Any]]:
        return [{"accessor": a, "request": r, "what": w, "decision": d, "at_ms": t}
                for a, r, w, d, t in self._conn().execute(
                    "SELECT accessor, request, what, decision, at_ms FROM reads "
                    "WHERE record = ? ORDER BY n", (record_id,))]


class _Tree:
    """The RFC 9162 tree of an object's leaves, its subtree hashes memoised: the
    proofs of adjacent segments share most of them, and a range read needs several."""

    def __init__(self, leaves: list[bytes]) -> None:
        self.leaves = leaves
        self.memo: dict[tuple[int, int], bytes] = {}

    def hash(self, start: int, end: int) -> bytes:  # MTH(D[start:end]), §2.1.1
        if end - start == 1:
            return self.leaves[start]
        found = self.memo.get((start, end))
        if found is None:
            k = 1 << ((end - start - 1).bit_length() - 1)
            found = rfc9162.node_hash(self.hash(start, start + k), self.hash(start + k, end))
            self.memo[(start, end)] = found
        return found

    def proof(self, index: int) -> list[bytes]:  # PATH(m, D[n]), §2.1.3.1
        path: list[bytes] = []
        start, end = 0, len(self.leaves)
        while end - start > 1:
            k = 1 << ((end - start - 1).bit_length() - 1)
            if index < start + k:
                path.append(self.hash(start + k, end))
                end = start + k
            else:
                path.append(self.hash(start, start + k))
                start += k
        return path[::-1]


class _Writer:
    def __init__(self, store: GenomeStore, record_id: bytes, path: Path) -> None:
        self.store, self.record_id, self.path = store, record_id, path
        self.part = path.with_suffix(".part")
        self.direct = directio.open_object(self.part) if DIRECT_IO else None
        self.file = self.part.open("wb") if self.direct is None else None
        self.leaves: list[bytes] = []
        self.done = False
        self._unsynced = 0
        self._syncing: threading.Thread | None = None
        self._sync_error: OSError | None = None
        self._window: memoryview | None = None

    def discard(self) -> None:
        if self.direct is not None:
            self.direct.discard()
        else:
            with contextlib.suppress(OSError):
                self._wait_sync()
            self._buffered().close()
        self.part.unlink(missing_ok=True)

    def _buffered(self) -> BinaryIO:
        assert self.file is not None
        return self.file

    def _append(self, data: bytes | memoryview) -> None:
        if self.direct is not None:
            self.direct.write(data)
        else:
            self._buffered().write(data)
            self._written(len(data))

    def _tell(self) -> int:
        return self._buffered().tell() if self.direct is None else self.direct.tell()

    def _written(self, n: int) -> None:
        """Start writing back what the page cache holds every :data:`WRITEBACK_BYTES`
        (an ``fdatasync`` on a thread: it waits on the disk without the GIL while the
        sealer goes on), so the final ``fsync`` finds little left to write; at most one
        runs at a time. Left alone, the kernel starts only past a share of the memory,
        and the whole object would be written by the last fsync while nothing else ran."""
        self._unsynced += n
        if not WRITEBACK_BYTES or self._unsynced < WRITEBACK_BYTES or (
                self._syncing is not None and self._syncing.is_alive()):
            return
        self._unsynced = 0
        self._syncing = threading.Thread(target=self._sync, args=(self._buffered().fileno(),),
                                         name="genome-writeback", daemon=True)
        self._syncing.start()

    def _sync(self, fd: int) -> None:
        try:
            os.fdatasync(fd)
        except OSError as exc:  # a write error is reported once per file: keep it for
            self._sync_error = exc  # finish(), whose own fsync would no longer see it

    def _wait_sync(self) -> None:
        if self._syncing is not None:
            self._syncing.join()
            self._syncing = None
        if self._sync_error is not None:
            raise self._sync_error

    def add(self, index: int, segment: bytes, leaf: bytes | None = None) -> None:
        """One segment; ``leaf``: its leaf hash from a sealer running in this process
        (``seal_stream``: one hash pass less). Segments from elsewhere come without it
        and are hashed here, as ``BlobStore.put`` does."""
        if index != len(self.leaves) or not 0 < len(segment) <= CIPHER_SEGMENT_SIZE:
            raise errors.BAD_RANGE(f"segment {index} out of order or of a wrong size")
        self._append(segment)
        self.leaves.append(rfc9162.leaf_hash(segment) if leaf is None else leaf)

    def reserve(self, n: int) -> memoryview | None:
        """Where ``seal_stream`` may encrypt the next batch of ``n`` bytes: straight into
        the direct writer's buffer (no copy), or None (it makes its own)."""
        self._window = None if self.direct is None else self.direct.window(n)
        return self._window

    def add_batch(self, first: int, data: memoryview, leaves: Sequence[bytes]) -> None:
        """Segments ``first…`` back to back in ``data`` (all whole but the last of the
        object; in the window :meth:`reserve` gave, or anywhere), with their leaf hashes
        from ``seal_stream``: one write, or none (the window is the file's next bytes)."""
        whole = CIPHER_SEGMENT_SIZE * (len(leaves) - 1)
        if first != len(self.leaves) or not leaves \
                or not whole < len(data) <= whole + CIPHER_SEGMENT_SIZE:
            raise errors.BAD_RANGE(f"segments from {first} out of order or of a wrong size")
        window, self._window = self._window, None
        if window is not None and data is window and self.direct is not None:
            self.direct.commit(window, len(data))
        else:
            if window is not None:
                window.release()
            self._append(data)
        self.leaves.extend(leaves)

    def finish(self, meta: GenomeMeta, packets: Mapping[str, bytes], descriptor: bytes,
               author: str | None, index: dict[str, Any] | None,
               checksums: Mapping[str, str]) -> None:
        """Check the segments against ``meta``, make the file durable, and the object
        active with its leaves and packets in one transaction."""
        meta.check()
        if len(self.leaves) != meta.segments \
                or rfc9162.root_from_leaf_hashes(self.leaves) != meta.root:
            raise errors.BAD_PROOF("the segments' root is not the object's")
        if self._tell() != meta.size:
            raise errors.BAD_RANGE(f"{self._tell()} segment bytes, not {meta.size}")
        if self.direct is not None:
            self.direct.close()
        else:
            file = self._buffered()
            file.flush()
            self._wait_sync()
            os.fsync(file.fileno())
            file.close()
        os.replace(self.part, self.path)
        with self.store._write_lock, self.store._tx() as db:
            db.executemany("INSERT INTO segments VALUES (?, ?, ?)",
                           [(self.record_id, i, leaf) for i, leaf in enumerate(self.leaves)])
            db.executemany("INSERT OR REPLACE INTO packets VALUES (?, ?, ?)",
                           [(self.record_id, r, p) for r, p in sorted(packets.items())])
            db.execute("UPDATE objects SET root = ?, size = ?, segments = ?, plain_size = ?,"
                       " commitment = ?, descriptor = ?, author = ?, idx = ?, checksums = ?,"
                       " status = 'active' WHERE record = ?",
                       (meta.root, meta.size, meta.segments, meta.plain_size,
                        meta.commitment, descriptor, author,
                        "" if index is None else json.dumps(index, sort_keys=True),
                        json.dumps(dict(checksums), sort_keys=True), self.record_id))
        self.done = True
