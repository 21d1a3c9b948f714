"""The vault's store of genomic objects, beside the record blob store (``vault/blobs.py``):
one SQLite file ``genome.sqlite3`` (WAL, ``synchronous=FULL``, ``secure_delete=ON``).

Tables: ``objects`` (record → patient, root, sizes, commitment, sealed descriptor, local
author, region index, checksums, status ``pending|active``), ``segments`` ((record,
index) → leaf hash, crypt4gh segment), ``packets`` ((record, reader) → one crypt4gh
header packet), ``reads`` (who read which range or region of which object, when: what
the patient sees). A put commits segments in batches (the WAL stays bounded) and turns
the object ``active`` with its packets in one last transaction; a crash leaves it
``pending``, deleted on the next open. Granting a reader adds a packet, revoking one
deletes it: segments are never rewritten.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from phrchain.core import rfc9162
from phrchain.genome import errors
from phrchain.genome.objects import GenomeMeta, SegmentPart

BATCH_BYTES: Final = 32 << 20

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS objects (
    record BLOB PRIMARY KEY, patient TEXT NOT NULL, root BLOB NOT NULL, size INTEGER NOT NULL,
    segments INTEGER NOT NULL, plain_size INTEGER NOT NULL, commitment BLOB NOT NULL UNIQUE,
    descriptor BLOB NOT NULL, author TEXT, idx TEXT NOT NULL, checksums TEXT NOT NULL,
    status TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS segments (
    record BLOB NOT NULL, idx INTEGER NOT NULL, leaf BLOB NOT NULL, data BLOB NOT NULL,
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


class GenomeStore:
    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / "genome.sqlite3"
        self._local = threading.local()
        self._write_lock = threading.Lock()
        self._conn().executescript(_SCHEMA)
        with self._tx() as db:  # a crash mid-put leaves pending rows: drop them
            db.execute("DELETE FROM segments WHERE record IN "
                       "(SELECT record FROM objects WHERE status = 'pending')")
            db.execute("DELETE FROM objects WHERE status = 'pending'")

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
        """Stream an object's segments in; :meth:`_Writer.finish` makes it visible."""
        with self._write_lock:
            db = self._conn()
            if db.execute("SELECT 1 FROM objects WHERE record = ?",
                          (record_id,)).fetchone() is not None:
                raise errors.NOT_GENOME_OBJECT(f"{record_id.hex()} is already held")
            db.execute("BEGIN IMMEDIATE")
            db.execute("INSERT INTO objects VALUES (?, ?, ?, 0, 0, 0, ?, ?, NULL, '', '{}', "
                       "'pending')", (record_id, patient, bytes(32), record_id, b""))
            w = _Writer(db, record_id)
            try:
                yield w
                if not w.done:
                    raise errors.BAD_RANGE("the object was not finished")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                with self._tx() as tx:
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

    def shred(self, record_id: bytes) -> bool:
        """Erase an object's segments, packets and row (its read log stays: it is the
        patient's record of accesses, and holds no content)."""
        with self._write_lock, self._tx() as db:
            n = db.execute("DELETE FROM objects WHERE record = ?", (record_id,)).rowcount
            db.execute("DELETE FROM segments WHERE record = ?", (record_id,))
            db.execute("DELETE FROM packets WHERE record = ?", (record_id,))
        self._conn().execute("PRAGMA wal_checkpoint(TRUNCATE)")
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

    def leaves(self, record_id: bytes) -> list[bytes]:
        return [leaf for (leaf,) in self._conn().execute(
            "SELECT leaf FROM segments WHERE record = ? ORDER BY idx", (record_id,))]

    def parts(self, record_id: bytes, indices: range) -> list[SegmentPart]:
        """Segments ``indices`` with their inclusion proofs against the object's root."""
        held = self.get(record_id)
        if indices and not 0 <= indices.start <= indices[-1] < held.meta.segments:
            raise errors.BAD_RANGE(f"segments {indices.start}..{indices.stop - 1}")
        leaves = self.leaves(record_id)
        rows = self._conn().execute(
            "SELECT idx, data FROM segments WHERE record = ? AND idx >= ? AND idx < ? "
            "ORDER BY idx", (record_id, indices.start, indices.stop)).fetchall()
        return [SegmentPart(i, data, tuple(rfc9162.inclusion_proof(leaves, i, len(leaves))))
                for i, data in rows]

    def iter_segments(self, record_id: bytes) -> Iterator[bytes]:
        count = self.get(record_id).meta.segments
        for i in range(count):
            row = self._conn().execute("SELECT data FROM segments WHERE record = ? AND "
                                       "idx = ?", (record_id, i)).fetchone()
            if row is None:
                raise errors.NOT_GENOME_OBJECT(f"{record_id.hex()} segment {i}")
            yield row[0]

    def reads(self, record_id: bytes) -> list[dict[str, Any]]:
        return [{"accessor": a, "request": r, "what": w, "decision": d, "at_ms": t}
                for a, r, w, d, t in self._conn().execute(
                    "SELECT accessor, request, what, decision, at_ms FROM reads "
                    "WHERE record = ? ORDER BY n", (record_id,))]


class _Writer:
    def __init__(self, db: sqlite3.Connection, record_id: bytes) -> None:
        self.db, self.record_id = db, record_id
        self.pending = 0
        self.done = False

    def add(self, index: int, segment: bytes) -> None:
        self.db.execute("INSERT INTO segments VALUES (?, ?, ?, ?)",
                        (self.record_id, index, rfc9162.leaf_hash(segment), segment))
        self.pending += len(segment)
        if self.pending >= BATCH_BYTES:  # bound the WAL; the object stays pending
            self.db.execute("COMMIT")
            self.db.execute("BEGIN IMMEDIATE")
            self.pending = 0

    def finish(self, meta: GenomeMeta, packets: Mapping[str, bytes], descriptor: bytes,
               author: str | None, index: dict[str, Any] | None,
               checksums: Mapping[str, str]) -> None:
        """Check the stored segments against ``meta`` and make the object active."""
        meta.check()
        leaves = [leaf for (leaf,) in self.db.execute(
            "SELECT leaf FROM segments WHERE record = ? ORDER BY idx", (self.record_id,))]
        if len(leaves) != meta.segments or rfc9162.root_from_leaf_hashes(leaves) != meta.root:
            raise errors.BAD_PROOF("the segments' root is not the object's")
        self.db.executemany("INSERT OR REPLACE INTO packets VALUES (?, ?, ?)",
                            [(self.record_id, r, p) for r, p in sorted(packets.items())])
        self.db.execute("UPDATE objects SET root = ?, size = ?, segments = ?, plain_size = ?,"
                        " commitment = ?, descriptor = ?, author = ?, idx = ?, checksums = ?,"
                        " status = 'active' WHERE record = ?",
                        (meta.root, meta.size, meta.segments, meta.plain_size,
                         meta.commitment, descriptor, author,
                         "" if index is None else json.dumps(index, sort_keys=True),
                         json.dumps(dict(checksums), sort_keys=True), self.record_id))
        self.db.execute("COMMIT")
        self.done = True
