"""SQLite block store: signed headers, raw txs and their results, one transaction per
block (WAL, synchronous=FULL). A block is written *before* the state it produces is
committed, so after a crash the node replays whatever the state store lacks.

The node writes a block from its producer thread while API threads read; one lock per
store keeps a reader from seeing a block's rows before its transaction commits."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from phrchain.core import encoding
from phrchain.core.block import SignedHeader
from phrchain.storage.sqlite_state import connect

_SCHEMA = """
CREATE TABLE IF NOT EXISTS blocks (height INTEGER PRIMARY KEY, hash BLOB NOT NULL UNIQUE,
                                   header BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS txs (height INTEGER NOT NULL, idx INTEGER NOT NULL,
                                hash BLOB NOT NULL, raw BLOB NOT NULL, result BLOB NOT NULL,
                                PRIMARY KEY (height, idx));
CREATE INDEX IF NOT EXISTS txs_by_hash ON txs (hash);
"""


@dataclass(frozen=True, slots=True)
class StoredTx:
    height: int
    index: int
    hash: bytes
    raw: bytes
    result: dict[str, Any]


class SqliteBlockStore:
    def __init__(self, path: Path | str) -> None:
        self._db = connect(path)
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()
        row = self._db.execute("SELECT MAX(height) FROM blocks").fetchone()
        self._height: int = row[0] or 0

    def close(self) -> None:
        self._db.close()

    def height(self) -> int:
        return self._height

    def save(self, signed: SignedHeader, txs: Sequence[bytes],
             results: Sequence[dict[str, Any]], tx_hashes: Sequence[bytes]) -> None:
        height = signed.header.height
        if height != self._height + 1:
            raise ValueError(f"block store expects height {self._height + 1}, got {height}")
        with self._lock:
            self._write(signed, txs, results, tx_hashes)
        self._height = height

    def _write(self, signed: SignedHeader, txs: Sequence[bytes],
               results: Sequence[dict[str, Any]], tx_hashes: Sequence[bytes]) -> None:
        height = signed.header.height
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute("INSERT INTO blocks (height, hash, header) VALUES (?, ?, ?)",
                       (height, signed.header.hash(), encoding.encode(signed.to_json())))
            db.executemany(
                "INSERT INTO txs (height, idx, hash, raw, result) VALUES (?, ?, ?, ?, ?)",
                [(height, i, h, raw, encoding.encode_trusted(res))
                 for i, (raw, res, h) in enumerate(zip(txs, results, tx_hashes, strict=True))])
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def _read(self, sql: str, args: tuple[Any, ...]) -> list[Any]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def header(self, height: int) -> SignedHeader | None:
        rows = self._read("SELECT header FROM blocks WHERE height = ?", (height,))
        return SignedHeader.from_json(encoding.decode(bytes(rows[0][0]))) if rows else None

    def block_hash(self, height: int) -> bytes | None:
        """The stored ``hash`` column of a block (what lookups by hash use)."""
        rows = self._read("SELECT hash FROM blocks WHERE height = ?", (height,))
        return bytes(rows[0][0]) if rows else None

    def headers(self, start: int, end: int) -> list[SignedHeader]:
        rows = self._read(
            "SELECT header FROM blocks WHERE height BETWEEN ? AND ? ORDER BY height",
            (start, end))
        return [SignedHeader.from_json(encoding.decode(bytes(r[0]))) for r in rows]

    def txs(self, height: int) -> list[StoredTx]:
        rows = self._read(
            "SELECT height, idx, hash, raw, result FROM txs WHERE height = ? ORDER BY idx",
            (height,))
        return [_stored(r) for r in rows]

    def tx(self, tx_hash: bytes) -> StoredTx | None:
        """The latest inclusion of a tx (a rejected tx may be included again later)."""
        rows = self._read(
            "SELECT height, idx, hash, raw, result FROM txs WHERE hash = ? "
            "ORDER BY height DESC, idx DESC LIMIT 1", (tx_hash,))
        return _stored(rows[0]) if rows else None


def _stored(row: Sequence[Any]) -> StoredTx:
    return StoredTx(row[0], row[1], bytes(row[2]), bytes(row[3]),
                    encoding.decode(bytes(row[4])))
