"""Durable store of encrypted record chunks and wrapped data keys (SQLite, one file).

Layout (``<directory>/blobs.sqlite3``, WAL, ``synchronous=FULL``, ``secure_delete=ON``,
64 KiB pages so a 1 MiB chunk is a short overflow chain)::

    records       record id → patient, hash, size, chunks, chunk_size, commitment,
                  status ('pending' while chunks are being written, then 'active'),
                  hash_alg (the chunk hash, vault/crypto.py: 'sha256' for every record
                  stored before the column existed; added on open)
    record_chunks (record id, index) → leaf hash          which chunks make a record
    chunks        leaf hash → ciphertext                  content-addressed
    wrapped_keys  (record id, reader DID) → 80-byte HPKE wrapped data key
    descriptors   record id → sealed descriptor (528 bytes, vault/descriptor.py) and the
                  record's local author (the uploader, custody uploads only): never on
                  chain (v2)

The store never sees a data key or plaintext. It checks what it can without one: every
chunk's length against the record's layout, and the RFC 9162 root of the chunks against
the registered ``hash`` before a record becomes ``active``; readers check the rest.

Atomicity: :meth:`BlobStore.put` writes a ``pending`` row, then chunks in transactions
of at most ``batch_bytes`` (so a 256 MiB object never needs a 256 MiB WAL), then flips
the record to ``active`` together with its wrapped keys in one transaction. Readers see
only ``active`` records. A crash leaves at most a ``pending`` record, which the next
open deletes (with its chunks): a record is there whole or not at all.

Shared chunks: a chunk is keyed by its leaf hash. Distinct records never share one
honestly (the AAD binds the record id, so even equal plaintext under an equal key gives
a different GCM tag), but the vault cannot decrypt and so cannot stop a client from
uploading a copy of another record's ciphertext under a new id. :meth:`BlobStore.shred`
therefore deletes a chunk only when no other record refers to it and reports how many it
had to keep: deleting it would corrupt the other record, and the bytes it keeps are that
other record's content, which its own erasure will remove.

Threads: one SQLite connection per thread (readers never block each other or the
writer in WAL mode) and one lock serializing writers (SQLite has one writer anyway).
One writing :class:`BlobStore` per directory: opening deletes ``pending`` records,
which would break a concurrent writer in another process; other processes that only
read open it with ``recover=False``.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Final, NoReturn

from phrchain.core import rfc9162
from phrchain.vault import errors
from phrchain.vault.check import damaged, describe, well_formed_reader
from phrchain.vault.crypto import (
    RECORD_ID_SIZE,
    WRAPPED_KEY_SIZE,
    ChunkPart,
    Layout,
    RecordMeta,
    Sealed,
    StreamSealer,
    leaf_hasher,
)
from phrchain.vault.errors import VaultError

DB_NAME: Final = "blobs.sqlite3"
PAGE_SIZE: Final = 65536
BATCH_BYTES: Final = 32 << 20
BUSY_TIMEOUT_MS: Final = 30_000
_INSERT_RECORD: Final = ("INSERT INTO records (record, patient, hash, size, chunks, chunk_size, "
                         "commitment, status, hash_alg) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")
CHECKPOINT_WAIT_MS: Final = 1_000

SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS records (
    record BLOB PRIMARY KEY, patient TEXT NOT NULL, hash BLOB NOT NULL,
    size INTEGER NOT NULL, chunks INTEGER NOT NULL, chunk_size INTEGER NOT NULL,
    commitment BLOB NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'active')),
    hash_alg TEXT NOT NULL DEFAULT 'sha256') WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS record_chunks (
    record BLOB NOT NULL, idx INTEGER NOT NULL, leaf BLOB NOT NULL,
    PRIMARY KEY (record, idx)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS record_chunks_by_leaf ON record_chunks (leaf);
CREATE TABLE IF NOT EXISTS chunks (leaf BLOB PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS wrapped_keys (
    record BLOB NOT NULL, reader TEXT NOT NULL, wrapped BLOB NOT NULL,
    PRIMARY KEY (record, reader)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS descriptors (
    record BLOB PRIMARY KEY, sealed BLOB NOT NULL, author TEXT) WITHOUT ROWID;
"""


@dataclass(frozen=True, slots=True)
class ShredReport:
    """What :meth:`BlobStore.shred` removed."""

    record_id: bytes
    chunks_deleted: int
    chunks_kept_shared: int
    wrapped_keys_deleted: int


def _check_record_id(record_id: object) -> bytes:
    if not isinstance(record_id, bytes) or len(record_id) != RECORD_ID_SIZE:
        raise VaultError(errors.INVALID_ARGUMENT, f"record id must be {RECORD_ID_SIZE} bytes")
    return record_id


def _check_wrapped(reader: object, wrapped: object) -> None:
    if not isinstance(reader, str) or not reader:
        raise VaultError(errors.INVALID_ARGUMENT, "reader must be a DID string")
    if not isinstance(wrapped, bytes) or len(wrapped) != WRAPPED_KEY_SIZE:
        raise VaultError(errors.MALFORMED_WRAPPED_KEY, f"for reader {reader}")


class BlobStore:
    """Encrypted chunks and wrapped keys of the records one vault holds."""

    def __init__(self, directory: Path | str, *, batch_bytes: int = BATCH_BYTES,
                 recover: bool = True) -> None:
        """Open (or create) the store in ``directory``. ``recover=False`` is for extra
        reader processes on the same directory: only the one writing process may delete
        the ``pending`` records a crash left (they may be another process's writes)."""
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.path = self.directory / DB_NAME
        self._batch_bytes = batch_bytes
        self._local = threading.local()
        self._conns: list[sqlite3.Connection] = []
        self._conns_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._closed = False
        with self._write_lock:
            db = self._conn()
            db.executescript(SCHEMA)
            if "hash_alg" not in {r[1] for r in db.execute("PRAGMA table_info(records)")}:
                # a store from before the chunk hash was selectable: all SHA-256
                db.execute("ALTER TABLE records ADD COLUMN hash_alg TEXT NOT NULL "
                           "DEFAULT 'sha256'")
            self.recovered = self._recover(db) if recover else 0

    # --- connections ---------------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        if self._closed:
            raise RuntimeError("blob store is closed")
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is not None:
            return db
        db = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False,
                             timeout=BUSY_TIMEOUT_MS / 1000)
        db.execute(f"PRAGMA page_size={PAGE_SIZE}")  # effective only on a new file
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.execute("PRAGMA secure_delete=ON")
        self._local.db = db
        with self._conns_lock:
            self._conns.append(db)
        return db

    def close(self) -> None:
        with self._conns_lock:
            self._closed = True
            for db in self._conns:
                db.close()
            self._conns.clear()

    def __enter__(self) -> BlobStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction under the writer lock; rolled back on any error."""
        db = self._conn()
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    @contextmanager
    def _snapshot(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: several SELECTs see one committed state. Altered bytes
        that SQLite notices (in a SELECT, or already at BEGIN or COMMIT) are
        ``store_damaged``, not an internal error."""
        db = self._conn()
        try:
            db.execute("BEGIN")
            try:
                yield db
            finally:
                db.execute("COMMIT")
        except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:
            if not damaged(exc):
                raise
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise VaultError(errors.STORE_DAMAGED, f"SQLite: {describe(exc)}") from None

    # --- writing --------------------------------------------------------------------

    def put_sealed(self, sealed: Sealed, wrapped_keys: Mapping[str, bytes]) -> None:
        """:meth:`put` for a record sealed in memory."""
        self.put(sealed.meta, sealed.chunks, wrapped_keys)

    def put(self, meta: RecordMeta, chunks: Iterable[bytes],
            wrapped_keys: Mapping[str, bytes]) -> None:
        """Store a record's chunks (any iterable, consumed once) and wrapped keys.

        All or nothing: the record becomes visible only when every chunk is stored and
        their root, computed here, equals ``meta.hash``. Storing the same record again
        only adds the wrapped keys; a different record under a stored id is refused.
        """
        _check_record_id(meta.record_id)
        if not isinstance(meta.patient, str) or not meta.patient:
            raise VaultError(errors.INVALID_ARGUMENT, "patient must be a DID string")
        for value, what in ((meta.hash, "hash"), (meta.commitment, "commitment")):
            if not isinstance(value, bytes) or len(value) != 32:
                raise VaultError(errors.INVALID_ARGUMENT, f"{what} must be 32 bytes")
        layout, leaf = meta.layout(), leaf_hasher(meta.hash_alg)
        pairs = ((leaf(chunk), chunk) for chunk in chunks)
        self._put(meta.record_id, meta.patient, layout, pairs, lambda: meta, wrapped_keys,
                  meta.hash_alg)

    def put_many(self, items: Sequence[tuple[RecordMeta, Sequence[bytes],
                                             Mapping[str, bytes]]]) -> None:
        """Several new records in one transaction, so one fsync (bulk import): all are
        stored or none is. Records already stored, or too big for one transaction, go
        one by one through :meth:`put` instead."""
        db = self._conn()
        if len(items) < 2 or sum(m.size for m, _, _ in items) > self._batch_bytes or any(
                db.execute("SELECT 1 FROM records WHERE record = ?",
                           (m.record_id,)).fetchone() for m, _, _ in items):
            for meta, chunks, wrapped_keys in items:
                self.put(meta, chunks, wrapped_keys)
            return
        for meta, _, wrapped_keys in items:
            _check_record_id(meta.record_id)
            for reader, wrapped in wrapped_keys.items():
                _check_wrapped(reader, wrapped)
        with self._write_lock:
            db.execute("BEGIN IMMEDIATE")
            try:
                for meta, chunks, wrapped_keys in items:
                    self._insert_whole(db, meta, chunks, wrapped_keys)
                db.execute("COMMIT")
            except sqlite3.IntegrityError:
                db.execute("ROLLBACK")
                raise VaultError(errors.RECORD_CONFLICT, "a record id repeats in the batch"
                                 ) from None
            except BaseException:
                db.execute("ROLLBACK")
                raise

    @staticmethod
    def _insert_whole(db: sqlite3.Connection, meta: RecordMeta, chunks: Sequence[bytes],
                      wrapped_keys: Mapping[str, bytes]) -> None:
        layout = meta.layout()
        if len(chunks) != layout.count:
            raise VaultError(errors.BAD_LAYOUT, f"got {len(chunks)} of {layout.count} "
                             f"chunks of record {meta.record_id.hex()}")
        leaves, leaf = [], leaf_hasher(meta.hash_alg)
        for index, chunk in enumerate(chunks):
            layout.check_chunk(index, chunk)
            leaves.append(leaf(chunk))
        if rfc9162.root_from_leaf_hashes(leaves) != meta.hash:
            raise VaultError(errors.HASH_MISMATCH, f"record {meta.record_id.hex()}")
        db.execute(_INSERT_RECORD, (meta.record_id, meta.patient, meta.hash, layout.size,
                                    layout.count, layout.chunk_size, meta.commitment,
                                    "active", meta.hash_alg))
        db.executemany("INSERT OR IGNORE INTO chunks (leaf, data) VALUES (?, ?)",
                       list(zip(leaves, chunks, strict=True)))
        db.executemany("INSERT INTO record_chunks VALUES (?, ?, ?)",
                       [(meta.record_id, i, leaf) for i, leaf in enumerate(leaves)])
        BlobStore._insert_wrapped(db, meta.record_id, wrapped_keys)

    def put_stream(self, sealer: StreamSealer, wrapped_keys: Mapping[str, bytes]) -> RecordMeta:
        """Seal and store a large object in one pass; returns its on-chain description.

        The sealer runs in this process, so its leaf hashes are used as they are (no
        second hash pass); :meth:`put` is the entry point for chunks from elsewhere.
        """
        return self._put(sealer.record_id, sealer.patient, sealer.layout,
                         sealer.sealed_chunks(), lambda: sealer.meta, wrapped_keys,
                         sealer.hash_alg)

    def _put(self, record_id: bytes, patient: str, layout: Layout,
             pairs: Iterable[tuple[bytes, bytes]], final: Callable[[], RecordMeta],
             wrapped_keys: Mapping[str, bytes], hash_alg: str) -> RecordMeta:
        for reader, wrapped in wrapped_keys.items():
            _check_wrapped(reader, wrapped)
        with self._write_lock:
            if self._existing(record_id, patient, layout, final, wrapped_keys, hash_alg):
                return final()
            try:
                return self._put_chunks(record_id, patient, layout, pairs, final,
                                        wrapped_keys, hash_alg)
            except BaseException:
                db = self._conn()
                if db.in_transaction:
                    db.execute("ROLLBACK")
                with self._write() as db:
                    self._delete(db, record_id)
                raise

    def _existing(self, record_id: bytes, patient: str, layout: Layout,
                  final: Callable[[], RecordMeta], wrapped_keys: Mapping[str, bytes],
                  hash_alg: str) -> bool:
        row = self._conn().execute(
            "SELECT patient, hash, size, chunks, commitment, chunk_size, status, hash_alg "
            "FROM records WHERE record = ?", (record_id,)).fetchone()
        if row is None:
            return False
        if row[6] == "active" and row[0] == patient and (row[2], row[3], row[5], row[7]) == (
                layout.size, layout.count, layout.chunk_size, hash_alg):
            try:
                meta = final()
            except VaultError:  # a stream not yet sealed: its hash is unknown, refuse
                meta = None
            if meta is not None and (row[1], row[4]) == (meta.hash, meta.commitment):
                with self._write() as db:
                    self._insert_wrapped(db, record_id, wrapped_keys)
                return True
        raise VaultError(errors.RECORD_CONFLICT, f"record {record_id.hex()}")

    def _put_chunks(self, record_id: bytes, patient: str, layout: Layout,
                    pairs: Iterable[tuple[bytes, bytes]], final: Callable[[], RecordMeta],
                    wrapped_keys: Mapping[str, bytes], hash_alg: str) -> RecordMeta:
        db = self._conn()
        db.execute("BEGIN IMMEDIATE")
        # hash and commitment are not known before a stream is sealed: zeros until then
        db.execute(_INSERT_RECORD, (record_id, patient, bytes(32), layout.size, layout.count,
                                    layout.chunk_size, bytes(32), "pending", hash_alg))
        frontier, pending_bytes = rfc9162.CompactRange(), 0
        for index, (leaf, chunk) in enumerate(pairs):
            if index >= layout.count:
                raise VaultError(errors.BAD_LAYOUT, f"more than the {layout.count} chunks "
                                 f"of record {record_id.hex()}")
            layout.check_chunk(index, chunk)
            frontier.append(leaf)
            db.execute("INSERT OR IGNORE INTO chunks (leaf, data) VALUES (?, ?)", (leaf, chunk))
            db.execute("INSERT INTO record_chunks VALUES (?, ?, ?)", (record_id, index, leaf))
            pending_bytes += len(chunk)
            if pending_bytes >= self._batch_bytes:  # bound the WAL; record stays pending
                db.execute("COMMIT")
                db.execute("BEGIN IMMEDIATE")
                pending_bytes = 0
        if frontier.size != layout.count:
            raise VaultError(errors.BAD_LAYOUT, f"got {frontier.size} of {layout.count} "
                             f"chunks of record {record_id.hex()}")
        meta = final()
        if frontier.root() != meta.hash or meta.hash_alg != hash_alg:
            raise VaultError(errors.HASH_MISMATCH, f"record {record_id.hex()}")
        self._insert_wrapped(db, record_id, wrapped_keys)
        db.execute("UPDATE records SET status = 'active', hash = ?, commitment = ? "
                   "WHERE record = ?", (meta.hash, meta.commitment, record_id))
        db.execute("COMMIT")
        return meta

    @staticmethod
    def _insert_wrapped(db: sqlite3.Connection, record_id: bytes,
                        wrapped_keys: Mapping[str, bytes]) -> None:
        db.executemany("INSERT OR REPLACE INTO wrapped_keys VALUES (?, ?, ?)",
                       [(record_id, r, w) for r, w in sorted(wrapped_keys.items())])

    def put_wrapped_key(self, record_id: bytes, reader: str, wrapped: bytes) -> None:
        """Add or replace one reader's wrapped data key (a later grant)."""
        self.put_wrapped_keys([(record_id, reader, wrapped)])

    def put_wrapped_keys(self, items: Sequence[tuple[bytes, str, bytes]]) -> None:
        """Add or replace several (record, reader, wrapped key) in one transaction: all
        are stored, or none is (a record not active refuses the lot)."""
        for record_id, reader, wrapped in items:
            _check_record_id(record_id)
            _check_wrapped(reader, wrapped)
        with self._write_lock, self._write() as db:
            for record_id, reader, wrapped in items:
                self._require_active(db, record_id)
                self._insert_wrapped(db, record_id, {reader: wrapped})

    def put_descriptors(self, items: Sequence[tuple[bytes, bytes, str | None]]) -> None:
        """Keep ``(record id, sealed descriptor, local author or None)`` of active records,
        in one transaction. Like keys, a descriptor is only ever added: one already held
        is kept (a copy cannot replace the custodian's), though a known local author
        fills in a missing one."""
        for record_id, sealed, author in items:
            _check_record_id(record_id)
            if not isinstance(sealed, bytes) or not 0 < len(sealed) <= 4096 \
                    or not (author is None or (isinstance(author, str) and author)):
                raise VaultError(errors.INVALID_ARGUMENT, "a sealed descriptor is bytes and "
                                 "its author a DID")
        with self._write_lock, self._write() as db:
            for record_id, sealed, author in items:
                self._require_active(db, record_id)
                db.execute("INSERT INTO descriptors VALUES (?, ?, ?) ON CONFLICT (record) "
                           "DO UPDATE SET author = coalesce(author, excluded.author)",
                           (record_id, sealed, author))

    def get_descriptor(self, record_id: bytes) -> tuple[bytes, str | None] | None:
        """``(sealed descriptor, local author)`` of a held record, None if it has none
        (a v1 upload)."""
        _check_record_id(record_id)
        with self._snapshot() as db:
            self._require_active(db, record_id)
            row = db.execute("SELECT sealed, author FROM descriptors WHERE record = ?",
                             (record_id,)).fetchone()
        return None if row is None else (bytes(row[0]), row[1])

    # --- deleting -------------------------------------------------------------------

    @staticmethod
    def _delete(db: sqlite3.Connection, record_id: bytes) -> ShredReport:
        """Delete a record's rows and every chunk no other record refers to."""
        deleted = db.execute(
            "DELETE FROM chunks WHERE leaf IN "
            "(SELECT leaf FROM record_chunks WHERE record = :r) AND NOT EXISTS "
            "(SELECT 1 FROM record_chunks o WHERE o.leaf = chunks.leaf AND o.record != :r)",
            {"r": record_id}).rowcount
        kept = db.execute(
            "SELECT COUNT(DISTINCT leaf) FROM record_chunks WHERE record = ? AND leaf IN "
            "(SELECT leaf FROM chunks)", (record_id,)).fetchone()[0]
        db.execute("DELETE FROM record_chunks WHERE record = ?", (record_id,))
        keys = db.execute("DELETE FROM wrapped_keys WHERE record = ?", (record_id,)).rowcount
        db.execute("DELETE FROM descriptors WHERE record = ?", (record_id,))
        db.execute("DELETE FROM records WHERE record = ?", (record_id,))
        return ShredReport(record_id, deleted, kept, keys)

    def shred(self, record_id: bytes) -> ShredReport:
        """Erase a record: its chunks (unless shared, see the module notes), wrapped keys
        and metadata, then checkpoint and truncate the WAL so that, with
        ``secure_delete``, the ciphertext is gone from the db, -wal and -shm files."""
        _check_record_id(record_id)
        with self._write_lock:
            with self._write() as db:
                self._require_exists(db, record_id)
                report = self._delete(db, record_id)
            if not self._truncate_wal():
                raise VaultError(errors.SHRED_INCOMPLETE, f"record {record_id.hex()}")
        return report

    def _truncate_wal(self, wait_ms: int = CHECKPOINT_WAIT_MS) -> bool:
        """Checkpoint and empty the WAL; False if a reader's snapshot kept it busy for
        ``wait_ms`` (TRUNCATE waits through the busy handler, not by returning busy)."""
        db = self._conn()
        db.execute(f"PRAGMA busy_timeout = {int(wait_ms)}")
        try:
            busy, _log, _done = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        finally:
            db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        return not busy

    def _recover(self, db: sqlite3.Connection) -> int:
        """Delete records a crash left pending, and any chunk no record refers to."""
        pending = [r for (r,) in db.execute("SELECT record FROM records "
                                            "WHERE status = 'pending'")]
        with self._write() as tx:
            for record_id in pending:
                self._delete(tx, record_id)
            tx.execute("DELETE FROM chunks WHERE leaf NOT IN "
                       "(SELECT leaf FROM record_chunks)")
        # best effort: these bytes belong to records that never became visible, not to
        # an erasure; a reader process holding a snapshot must not stop the store opening
        self._truncate_wal(wait_ms=100)
        return len(pending)

    # --- reading --------------------------------------------------------------------

    @staticmethod
    def _require_exists(db: sqlite3.Connection, record_id: bytes) -> None:
        if db.execute("SELECT 1 FROM records WHERE record = ?", (record_id,)).fetchone() is None:
            raise VaultError(errors.RECORD_NOT_FOUND, record_id.hex())

    @staticmethod
    def _require_active(db: sqlite3.Connection, record_id: bytes) -> RecordMeta:
        row = db.execute("SELECT patient, hash, size, chunks, commitment, chunk_size, "
                         "hash_alg FROM records WHERE record = ? AND status = 'active'",
                         (record_id,)).fetchone()
        if row is None:
            raise VaultError(errors.RECORD_NOT_FOUND, record_id.hex())
        meta = RecordMeta(record_id, *row)
        try:  # stored only once checked: a row that no longer fits was altered
            meta.layout()
        except (VaultError, TypeError):
            raise VaultError(errors.STORE_DAMAGED, f"record {record_id.hex()}: its size "
                             "and chunk count no longer fit") from None
        return meta

    def get_meta(self, record_id: bytes) -> RecordMeta:
        _check_record_id(record_id)
        with self._snapshot() as db:
            return self._require_active(db, record_id)

    def get_held(self, record_id: bytes) -> tuple[RecordMeta, tuple[bytes, str | None] | None]:
        """:meth:`get_meta` and :meth:`get_descriptor` in one read transaction (the
        access path asks for both)."""
        _check_record_id(record_id)
        with self._snapshot() as db:
            meta = self._require_active(db, record_id)
            row = db.execute("SELECT sealed, author FROM descriptors WHERE record = ?",
                             (record_id,)).fetchone()
        return meta, None if row is None else (bytes(row[0]), row[1])

    def get_key_and_chunks(self, record_id: bytes, reader: str, indices: range
                           ) -> tuple[bytes | None, list[ChunkPart]]:
        """``reader``'s wrapped key and, only if there is one, the chunks ``indices``
        (as :meth:`get_chunks`), in one read transaction; ``(None, [])`` when the
        record has no key for ``reader`` (``store_damaged`` if a key row is altered,
        as :meth:`get_wrapped_key`)."""
        _check_record_id(record_id)
        with self._snapshot() as db:
            meta = self._require_active(db, record_id)
            row = db.execute("SELECT wrapped FROM wrapped_keys WHERE record = ? AND reader = ?",
                             (record_id, reader)).fetchone()
            if row is None:
                try:
                    self._no_key(db, record_id, reader)
                except VaultError as exc:
                    if exc.error is not errors.READER_NOT_FOUND:
                        raise
                return None, []
            return bytes(row[0]), self._parts(db, meta, indices)

    def leaf_hashes(self, record_id: bytes) -> tuple[bytes, ...]:
        """The record's chunk leaf hashes in order (check their root before use)."""
        _check_record_id(record_id)
        with self._snapshot() as db:
            self._require_active(db, record_id)
            return self._leaves(db, record_id)

    @staticmethod
    def _leaves(db: sqlite3.Connection, record_id: bytes) -> tuple[bytes, ...]:
        return tuple(leaf for (leaf,) in db.execute(
            "SELECT leaf FROM record_chunks WHERE record = ? ORDER BY idx", (record_id,)))

    @staticmethod
    def _chunk(db: sqlite3.Connection, record_id: bytes, index: int) -> bytes:
        row = db.execute("SELECT c.data FROM record_chunks rc JOIN chunks c ON c.leaf = rc.leaf "
                         "WHERE rc.record = ? AND rc.idx = ?", (record_id, index)).fetchone()
        if row is None:  # shredded while an iter_chunks was running
            raise VaultError(errors.RECORD_NOT_FOUND, f"{record_id.hex()} chunk {index}")
        data: bytes = row[0]
        return data

    def get_chunk(self, record_id: bytes, index: int) -> ChunkPart:
        """Chunk ``index`` with its RFC 9162 inclusion proof against the record hash."""
        return self.get_chunks(record_id, range(index, index + 1))[0]

    def get_chunks(self, record_id: bytes, indices: range) -> list[ChunkPart]:
        _check_record_id(record_id)
        with self._snapshot() as db:
            return self._parts(db, self._require_active(db, record_id), indices)

    def _parts(self, db: sqlite3.Connection, meta: RecordMeta, indices: range
               ) -> list[ChunkPart]:
        record_id = meta.record_id
        if indices and not 0 <= indices.start <= indices[-1] < meta.chunks:
            raise VaultError(errors.BAD_RANGE, f"chunks {list(indices)} of {meta.chunks}")
        leaves = self._leaves(db, record_id)
        return [ChunkPart(i, self._chunk(db, record_id, i),
                          tuple(rfc9162.inclusion_proof(leaves, i, meta.chunks)))
                for i in indices]

    def get_range(self, record_id: bytes, start: int, length: int) -> list[ChunkPart]:
        """The chunks (with proofs) covering plaintext bytes ``[start, start + length)``;
        hand them to :func:`phrchain.vault.crypto.read_range`."""
        return self.get_chunks(record_id,
                               self.get_meta(record_id).layout().covering(start, length))

    def iter_chunks(self, record_id: bytes) -> Iterator[bytes]:
        """Every chunk in order, one SELECT each (no long read transaction, so a
        concurrent shred is never blocked; it makes this raise instead)."""
        meta = self.get_meta(record_id)
        db = self._conn()
        for i in range(meta.chunks):
            yield self._chunk(db, record_id, i)

    def get_wrapped_key(self, record_id: bytes, reader: str) -> bytes:
        _check_record_id(record_id)
        with self._snapshot() as db:
            self._require_active(db, record_id)
            row = db.execute("SELECT wrapped FROM wrapped_keys WHERE record = ? AND reader = ?",
                             (record_id, reader)).fetchone()
            if row is None:
                self._no_key(db, record_id, reader)
        wrapped: bytes = row[0]
        return wrapped

    @staticmethod
    def _no_key(db: sqlite3.Connection, record_id: bytes, reader: str) -> NoReturn:
        """No key for ``reader``: ``reader_not_found``, unless one of the record's key
        rows is visibly altered, in which case the missing key may be that row (a
        flipped byte in its reader or key) and the honest answer is ``store_damaged``."""
        for other, wrapped in db.execute("SELECT reader, wrapped FROM wrapped_keys "
                                         "WHERE record = ?", (record_id,)):
            if not well_formed_reader(other) or not isinstance(wrapped, bytes) \
                    or len(wrapped) != WRAPPED_KEY_SIZE:
                raise VaultError(errors.STORE_DAMAGED, f"record {record_id.hex()}: a "
                                 "wrapped-key row is altered; run phrchain vault verify")
        raise VaultError(errors.READER_NOT_FOUND, f"record {record_id.hex()}, "
                         f"reader {reader}")

    def readers(self, record_id: bytes) -> list[str]:
        """DIDs holding a wrapped key for the record, sorted."""
        _check_record_id(record_id)
        with self._snapshot() as db:
            self._require_active(db, record_id)
            return [r for (r,) in db.execute(
                "SELECT reader FROM wrapped_keys WHERE record = ? ORDER BY reader",
                (record_id,))]

    def record_ids(self) -> list[bytes]:
        """Ids of every active record held, sorted (the erasure sync walks these)."""
        with self._snapshot() as db:
            return [r for (r,) in db.execute(
                "SELECT record FROM records WHERE status = 'active' ORDER BY record")]
