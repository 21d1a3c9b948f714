"""Offline check of a blob store (``phrchain vault verify``): is every record whole?

Read-only (the SQLite file is opened ``mode=ro``: no recovery, no schema, nothing
written), so it can run on a stopped vault, a backup or a copy. For each record it
checks what the vault can check without a data key (``README.md`` § Blob store):

- its row: a 16-byte id, a patient DID, a 32-byte hash and commitment, a layout that
  fits (``Layout.of_record``);
- its chunks: every index ``0..chunks-1`` present, each stored chunk of the size the
  layout gives and equal to its leaf hash, and the RFC 9162 root of the leaves equal to
  the record's ``hash``;
- its wrapped keys: at least one, each 80 bytes, each naming a well-formed did:key;
- its sealed descriptor, if it has one: 528 bytes (it opens only with a data key);
- with a chain view: the on-chain record exists, is not erased, and names the same
  patient, hash and commitment, and the size bucket of its size (v2: the exact size and
  chunk count are off chain); every reader is an identity on chain;

and for the whole file: SQLite's ``integrity_check``, and rows that belong to no record
(an altered id or leaf hash leaves them behind). Each problem is a :class:`Finding` with
a stable code and a detail that names the record, chunk index or reader, never
ciphertext, plaintext or key bytes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Mapping
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Protocol

from phrchain.core import keys, rfc9162
from phrchain.core.errors import CryptoError, ErrorCode
from phrchain.modules.records.messages import size_bucket
from phrchain.vault import errors
from phrchain.vault import gateway_errors as gw
from phrchain.vault.crypto import RECORD_ID_SIZE, WRAPPED_KEY_SIZE, Layout, leaf_hasher
from phrchain.vault.descriptor import SEALED_SIZE
from phrchain.vault.errors import VaultError

MAX_INTEGRITY_LINES: Final = 20
_DESCRIPTOR_FIELDS: Final = ("patient", "hash", "size", "commitment")


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem: where (``record <hex>``, ``store`` or ``journal``), the code, what."""

    subject: str
    error: ErrorCode
    detail: str

    def __str__(self) -> str:
        e = self.error
        return f"{self.subject}: {e.codespace}/{e.code} {e.name}: {self.detail}"


@dataclass
class Report:
    records: int = 0
    chunks: int = 0
    wrapped_keys: int = 0
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    def add(self, subject: str, error: ErrorCode, detail: str) -> None:
        self.findings.append(Finding(subject, error, detail))


class ChainView(Protocol):
    """What the check asks the chain (``None`` when no node is given)."""

    def descriptor(self, record_hex: str) -> Mapping[str, Any] | None:
        """The ``records/get`` answer for a record, or None if the chain has none."""

    def is_identity(self, did: str) -> bool:
        """Whether ``did`` is a registered identity (any status: keys outlive it)."""


@contextmanager
def open_read_only(path: Path) -> Iterator[sqlite3.Connection]:
    """The SQLite file at ``path``, read-only; ``VaultError`` if it is not there."""
    if not path.is_file():
        raise VaultError(errors.STORE_DAMAGED, f"no store at {path}")
    with closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as db:
        db.text_factory = _text
        yield db


class Undecodable:
    """A TEXT value that is not UTF-8: altered bytes (often a flipped serial type that
    turned a BLOB into TEXT). Neither ``str`` nor ``bytes``, so every check refuses it."""

    __slots__ = ("raw",)

    def __init__(self, raw: bytes) -> None:
        self.raw = raw

    def __repr__(self) -> str:
        return "<text that is not UTF-8>"


def _text(raw: bytes) -> str | Undecodable:
    """TEXT as str, or :class:`Undecodable`: the checks then name the value as damaged
    instead of stopping, and a BLOB turned TEXT never passes for the BLOB it was."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return Undecodable(raw)


def damaged(exc: sqlite3.Error | UnicodeDecodeError) -> bool:
    """Whether SQLite's error means altered bytes (not a busy or locked database): a
    corrupt page, text that is not UTF-8 (SQLite's own message quoting an altered
    definition can be that, so Python's sqlite3 raises ``UnicodeDecodeError``), or a
    schema whose names were altered."""
    if isinstance(exc, UnicodeDecodeError):
        return True
    text = str(exc)
    return getattr(exc, "sqlite_errorname", "") in ("SQLITE_CORRUPT", "SQLITE_NOTADB") \
        or any(sign in text for sign in ("malformed", "Could not decode", "not a database",
                                         "no such column", "no such table"))


def describe(exc: sqlite3.Error | UnicodeDecodeError) -> str:
    """SQLite's message without the bytes it may quote: "Could not decode … column 'x'
    with text '…'" would put a piece of a wrapped key or ciphertext in a log line."""
    if isinstance(exc, UnicodeDecodeError):
        return "a message that is not UTF-8 (an altered definition)"
    return str(exc).split(" with text ", 1)[0][:200]


def check_store(path: Path, chain: ChainView | None = None) -> Report:
    """Check every record of the blob store file ``path`` (``blobs.sqlite3``)."""
    from phrchain.vault.blobs import SCHEMA  # blobs uses this module's read checks

    report = Report()
    with open_read_only(path) as db:
        try:
            check_schema(db, SCHEMA, report, "store")
            _integrity(db, report, "store")
            ids = _records(db, report, chain)
            _orphans(db, report, ids)
        except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:  # damaged beyond reading on
            report.add("store", errors.STORE_DAMAGED, f"SQLite: {describe(exc)}")
    return report


def check_schema(db: sqlite3.Connection, schema: str, report: Report, subject: str) -> None:
    """The table and index definitions are exactly ``schema``'s (SQLite stores them as
    text; an altered name can leave a file that ``integrity_check`` passes, read-only
    connections read, and the vault cannot open)."""
    def norm(sql: object) -> str:  # a flipped serial type can make the text a blob
        text = sql if isinstance(sql, str) else repr(sql)
        return " ".join(text.replace("IF NOT EXISTS ", "").split())

    expected = {norm(sql) for sql in schema.split(";") if sql.strip()}
    found = {norm(sql) for (sql,) in db.execute(
        "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite^_%' "
        "ESCAPE '^'")}  # SQLite's own (sqlite_sequence of AUTOINCREMENT) are not ours
    for sql in sorted(expected - found):
        report.add(subject, errors.STORE_DAMAGED, "a table or index definition is altered "
                   f"or missing: {sql[:60]}…")
    for sql in sorted(found - expected):
        report.add(subject, errors.STORE_DAMAGED, f"an unexpected definition: {sql[:60]}…")


def _integrity(db: sqlite3.Connection, report: Report, subject: str) -> None:
    lines = [str(r[0]) for r in db.execute(
        f"PRAGMA integrity_check({MAX_INTEGRITY_LINES})")]
    if lines != ["ok"]:
        for line in lines:
            report.add(subject, errors.STORE_DAMAGED, f"SQLite integrity_check: {line}")


_RECORDS: Final = ("SELECT record, patient, hash, size, chunks, chunk_size, commitment, "
                   "status, hash_alg FROM records ORDER BY record")
_RECORDS_BEFORE_ALG: Final = _RECORDS.replace("hash_alg", "'sha256'")


def _records(db: sqlite3.Connection, report: Report, chain: ChainView | None) -> set[bytes]:
    ids: set[bytes] = set()
    # a store not yet opened by a vault that records the chunk hash: all SHA-256
    columns = {r[1] for r in db.execute("PRAGMA table_info(records)")}
    for row in db.execute(_RECORDS if "hash_alg" in columns else _RECORDS_BEFORE_ALG
                          ).fetchall():
        record_id, status = row[0], row[7]
        if not isinstance(record_id, bytes) or len(record_id) != RECORD_ID_SIZE:
            report.add("store", errors.STORE_DAMAGED,
                       f"a record row's id is not {RECORD_ID_SIZE} bytes")
            continue
        ids.add(record_id)
        subject = f"record {record_id.hex()}"
        if status == "pending":
            report.notes.append(f"{subject}: an upload a crash interrupted (pending); the "
                                "vault deletes it when it next starts")
            continue
        report.records += 1
        try:
            _one_record(db, report, subject, row, chain)
        except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:
            if not damaged(exc):
                raise
            report.add(subject, errors.STORE_DAMAGED, f"unreadable rows: {describe(exc)}")
    return ids


def _one_record(db: sqlite3.Connection, report: Report, subject: str, row: tuple[Any, ...],
                chain: ChainView | None) -> None:
    record_id, patient, hash_, size, count, chunk_size, commitment, status, alg = row
    if status != "active" or not isinstance(patient, str) \
            or not all(isinstance(v, bytes) and len(v) == 32 for v in (hash_, commitment)):
        report.add(subject, errors.STORE_DAMAGED,
                   "its row is altered (status, patient, hash or commitment malformed)")
        return
    try:
        layout = Layout.of_record(size, count, chunk_size)
    except (VaultError, TypeError) as exc:
        report.add(subject, errors.BAD_LAYOUT, f"size {size!r}, chunks {count!r}, chunk "
                   f"size {chunk_size!r} do not fit: {getattr(exc, 'detail', exc)}")
        return
    try:
        leaf_hash = leaf_hasher(alg)
    except VaultError:
        report.add(subject, errors.STORE_DAMAGED, f"its chunk hash {alg!r} is unknown")
        return
    _chunks(db, report, subject, record_id, hash_, layout, leaf_hash)
    _wrapped_keys(db, report, subject, record_id, chain)
    _sealed_descriptor(db, report, subject, record_id)
    if chain is not None:
        _against_chain(report, subject, record_id, chain,
                       {"patient": patient, "hash": hash_.hex(), "size": size_bucket(size),
                        "commitment": commitment.hex()})


def _sealed_descriptor(db: sqlite3.Connection, report: Report, subject: str,
                       record_id: bytes) -> None:
    if not _has_table(db, "descriptors"):  # a store written before v2
        return
    row = db.execute("SELECT sealed FROM descriptors WHERE record = ?",
                     (record_id,)).fetchone()
    if row is not None and (not isinstance(row[0], bytes) or len(row[0]) != SEALED_SIZE):
        report.add(subject, errors.STORE_DAMAGED, f"its sealed descriptor is not "
                   f"{SEALED_SIZE} bytes")


def _has_table(db: sqlite3.Connection, name: str) -> bool:
    return db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                      (name,)).fetchone() is not None


def _chunks(db: sqlite3.Connection, report: Report, subject: str, record_id: bytes,
            hash_: bytes, layout: Layout, leaf_hash: Callable[[bytes], bytes]) -> None:
    rows = db.execute("SELECT idx, leaf FROM record_chunks WHERE record = ? ORDER BY idx",
                      (record_id,)).fetchall()
    leaves = {idx: leaf for idx, leaf in rows}
    whole = True
    for idx in sorted(set(leaves) - set(range(layout.count)), key=repr):
        report.add(subject, errors.BAD_LAYOUT, f"a chunk row has index {idx!r}, outside "
                   f"0..{layout.count - 1}")
        whole = False
    for index in range(layout.count):
        leaf = leaves.get(index)
        if not isinstance(leaf, bytes) or len(leaf) != 32:
            report.add(subject, errors.BAD_LAYOUT, f"chunk {index} of {layout.count} is "
                       "missing (no chunk row)" if leaf is None
                       else f"chunk {index}: its leaf hash is not 32 bytes")
            whole = False
            continue
        found = db.execute("SELECT data FROM chunks WHERE leaf = ?", (leaf,)).fetchone()
        if found is None:
            report.add(subject, errors.BAD_LAYOUT, f"chunk {index} of {layout.count} is "
                       "missing (no stored chunk has its leaf hash)")
            whole = False
            continue
        data = found[0]
        report.chunks += 1
        if not isinstance(data, bytes):
            report.add(subject, errors.STORE_DAMAGED, f"chunk {index}: the stored value "
                       "is not a BLOB (its type was altered)")
            whole = False
            continue
        try:
            layout.check_chunk(index, data)
        except VaultError as exc:
            report.add(subject, errors.BAD_LAYOUT, f"chunk {index}: {exc.detail} "
                       "(truncated or extended)")
            whole = False
            continue
        if leaf_hash(data) != leaf:
            report.add(subject, errors.HASH_MISMATCH, f"chunk {index}: the stored ciphertext "
                       "does not match its leaf hash (altered bytes)")
            whole = False
    if whole and rfc9162.root_from_leaf_hashes(
            [leaves[i] for i in range(layout.count)]) != hash_:
        report.add(subject, errors.HASH_MISMATCH, "the RFC 9162 root of its chunks' leaf "
                   "hashes is not the record's hash")


def _wrapped_keys(db: sqlite3.Connection, report: Report, subject: str, record_id: bytes,
                  chain: ChainView | None) -> None:
    rows = db.execute("SELECT reader, wrapped FROM wrapped_keys WHERE record = ? "
                      "ORDER BY reader", (record_id,)).fetchall()
    if not rows:
        report.add(subject, errors.READER_NOT_FOUND, "no wrapped data key for any reader")
    for reader, wrapped in rows:
        report.wrapped_keys += 1
        if not well_formed_reader(reader):
            report.add(subject, errors.UNKNOWN_READER,
                       f"a wrapped key names {reader!r}, not a well-formed did:key")
            continue
        if not isinstance(wrapped, bytes) or len(wrapped) != WRAPPED_KEY_SIZE:
            size = len(wrapped) if isinstance(wrapped, bytes | str) else type(wrapped).__name__
            report.add(subject, errors.MALFORMED_WRAPPED_KEY,
                       f"reader {reader}: {size} bytes, not {WRAPPED_KEY_SIZE}")
        if chain is not None and not chain.is_identity(reader):
            report.add(subject, errors.UNKNOWN_READER,
                       f"reader {reader} is no identity on chain")


def well_formed_reader(reader: object) -> bool:
    """Whether a wrapped key's reader column holds a did:key (altered bytes rarely do)."""
    if not isinstance(reader, str):
        return False
    try:
        keys.public_key_from_did(reader)
    except (CryptoError, ValueError):
        return False
    return True


def _against_chain(report: Report, subject: str, record_id: bytes, chain: ChainView,
                   held: Mapping[str, Any]) -> None:
    on_chain = chain.descriptor(record_id.hex())
    if on_chain is None:
        report.add(subject, gw.NOT_REGISTERED, "the chain has no record with this id")
        return
    if on_chain.get("status") == "erased":
        report.add(subject, gw.ERASED, "erased on chain but still held here (the vault "
                   "shreds it at its next erasure sync)")
        return  # a tombstone keeps no hash, size or commitment to compare
    differ = [name for name in _DESCRIPTOR_FIELDS if on_chain.get(name) != held[name]]
    if differ:
        report.add(subject, gw.NOT_REGISTERED, f"the on-chain descriptor differs in "
                   f"{', '.join(differ)}")


def _orphans(db: sqlite3.Connection, report: Report, ids: set[bytes]) -> None:
    """Rows that belong to no record: what an altered record id or leaf hash leaves."""
    for table, what in (("record_chunks", "chunk rows"), ("wrapped_keys", "wrapped keys"),
                        ("descriptors", "sealed descriptors")):
        if not _has_table(db, table):
            continue
        for (record_id,) in db.execute(f"SELECT DISTINCT record FROM {table}"):  # noqa: S608
            if record_id not in ids:
                name = record_id.hex() if isinstance(record_id, bytes) else repr(record_id)
                report.add(f"record {name}", errors.STORE_DAMAGED,
                           f"{what} of a record the store does not hold (an altered id)")
    (stray,) = db.execute("SELECT COUNT(*) FROM chunks WHERE leaf NOT IN "
                          "(SELECT leaf FROM record_chunks)").fetchone()
    if stray:
        report.add("store", errors.STORE_DAMAGED, f"{stray} stored chunk(s) belong to no "
                   "record (an altered leaf hash)")
