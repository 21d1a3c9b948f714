"""SQLite state store: every version of every key, plus the content-addressed sparse
Merkle tree nodes, committed in one SQLite transaction per block (WAL, synchronous=FULL).

Schema::

    kv(key, height, value)   -- value NULL = deleted at that height; PK (key, height)
    nodes(hash, body)        -- SMT nodes, never mutated: old roots stay provable
    roots(height, root)      -- app hash per committed height
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

from phrchain.core import smt
from phrchain.core.errors import HEIGHT_UNAVAILABLE
from phrchain.core.store import Changes

_SCHEMA = """
CREATE TABLE IF NOT EXISTS kv (key BLOB NOT NULL, height INTEGER NOT NULL, value BLOB,
                               PRIMARY KEY (key, height)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS nodes (hash BLOB PRIMARY KEY, body BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS roots (height INTEGER PRIMARY KEY, root BLOB NOT NULL);
"""
_NODE_CACHE_MAX = 1 << 20


def connect(path: Path | str) -> sqlite3.Connection:
    """A connection set up for durability: WAL journal, fsync on every commit."""
    conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    return conn


def _prefix_end(prefix: bytes) -> bytes | None:
    """Smallest byte string greater than every string starting with ``prefix``."""
    stripped = prefix.rstrip(b"\xff")
    if not stripped:
        return None
    return stripped[:-1] + bytes([stripped[-1] + 1])


class SqliteStateStore:
    """A durable :class:`~phrchain.core.store.StateStore`."""

    def __init__(self, path: Path | str) -> None:
        self._db = connect(path)
        self._db.executescript(_SCHEMA)
        row = self._db.execute("SELECT height, root FROM roots ORDER BY height DESC LIMIT 1")\
            .fetchone()
        self._version: int = -1 if row is None else row[0]
        self._root: bytes = smt.EMPTY if row is None else row[1]
        self._nodes: dict[bytes, bytes] = {}
        self._staged: tuple[int, bytes, dict[bytes, bytes | None], dict[bytes, bytes]] | None \
            = None

    def close(self) -> None:
        self._db.close()

    # -- reads ------------------------------------------------------------------------
    def version(self) -> int:
        return self._version

    def _height(self, height: int | None) -> int:
        if height is None:
            return self._version
        if not 0 <= height <= self._version:
            raise HEIGHT_UNAVAILABLE(f"height {height} (have 0..{self._version})")
        return height

    def root(self, height: int | None = None) -> bytes:
        if height is None or height == self._version:
            return self._root
        h = self._height(height)
        row = self._db.execute("SELECT root FROM roots WHERE height = ?", (h,)).fetchone()
        if row is None:
            raise HEIGHT_UNAVAILABLE(f"height {h} is not retained")
        return bytes(row[0])

    def get(self, key: bytes, height: int | None = None) -> bytes | None:
        row = self._db.execute(
            "SELECT value FROM kv WHERE key = ? AND height <= ? ORDER BY height DESC LIMIT 1",
            (key, self._height(height))).fetchone()
        return None if row is None or row[0] is None else bytes(row[0])

    def iterate(self, prefix: bytes, height: int | None = None) -> Iterator[tuple[bytes, bytes]]:
        end = _prefix_end(prefix)
        sql = ("SELECT key, value, MAX(height) FROM kv WHERE key >= ? "
               + ("AND key < ? " if end is not None else "")
               + "AND height <= ? GROUP BY key ORDER BY key")
        args = (prefix, end, self._height(height)) if end is not None \
            else (prefix, self._height(height))
        rows = self._db.execute(sql, args).fetchall()
        for key, value, _ in rows:
            if value is not None:
                yield bytes(key), bytes(value)

    def get_node(self, node_hash: bytes) -> bytes:
        body = self._nodes.get(node_hash)
        if body is None:
            row = self._db.execute("SELECT body FROM nodes WHERE hash = ?", (node_hash,))\
                .fetchone()
            if row is None:
                raise KeyError(node_hash.hex())
            body = bytes(row[0])
            self._cache_nodes({node_hash: body})
        return body

    def _cache_nodes(self, nodes: dict[bytes, bytes]) -> None:
        if len(self._nodes) + len(nodes) > _NODE_CACHE_MAX:
            self._nodes.clear()  # crude but bounded; upper levels are re-read at once
        self._nodes.update(nodes)

    def prove(self, key: bytes, height: int | None = None) -> smt.SmtProof:
        return smt.prove(self, self.root(height), smt.key_path(key))

    # -- writes -----------------------------------------------------------------------
    def stage(self, height: int, changes: Changes) -> bytes:
        if height != self._version + 1:
            raise ValueError(f"can only stage height {self._version + 1}, not {height}")
        smt_changes = {smt.key_path(k): (None if v is None else smt.value_hash(v))
                       for k, v in changes.items()}
        root, nodes = smt.update(self, self._root, smt_changes)
        self._staged = (height, root, dict(changes), nodes)
        return root

    def commit(self) -> None:
        if self._staged is None:
            raise ValueError("nothing staged")
        height, root, changes, nodes = self._staged
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            db.executemany("INSERT OR IGNORE INTO nodes (hash, body) VALUES (?, ?)",
                           nodes.items())
            db.executemany("INSERT INTO kv (key, height, value) VALUES (?, ?, ?)",
                           [(k, height, v) for k, v in changes.items()])
            db.execute("INSERT INTO roots (height, root) VALUES (?, ?)", (height, root))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        self._version, self._root, self._staged = height, root, None
        self._cache_nodes(nodes)

    def discard(self) -> None:
        self._staged = None
