"""SQLite state store: every version of every key, plus the sparse Merkle tree nodes,
committed in one SQLite transaction per block (WAL, synchronous=FULL).

Schema::

    kv(key, height, value)                -- value NULL = deleted at that height;
                                          -- PK (key, height)
    nodes(version, hash, body)            -- SMT nodes by reference, PK (version, hash);
                                          -- never mutated: old roots stay provable
    roots(height, root, root_version)     -- app hash per committed height, and the
                                          -- version of the batch that created that root
    orphans(orphaned_at, refs)            -- nodes unused from orphaned_at: packed
                                          -- (u64 version, hash) entries
    changed(height, keys)                 -- keys each height wrote: packed
                                          -- (u32 length, key) entries
    meta(name, value)                     -- 'orphans_from': orphans and changed keys
                                          -- are recorded for every version above it

The last three let ``prune`` delete what a cut frees without walking the tree or
scanning the key table (:mod:`phrchain.storage.pruning`); a store opened with
``orphans=False`` (an archive node, which never prunes) records none and its ``prune``
walks the tree, as does a first ``prune`` over versions written before the records.

Nodes are keyed by ``(version, hash)`` (see :mod:`phrchain.core.smt`), not by hash
alone: every node a block creates has version = that block's height, which is larger
than every key already in the table, so a block's nodes are appended at the right edge
of the B-tree and a commit dirties only new pages plus the path down to them. Keyed by
hash, the same nodes would land on random pages, and each commit would rewrite (WAL
and checkpoint) a share of the table that grows with the whole state.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Final

from phrchain.core import smt
from phrchain.core.errors import HEIGHT_UNAVAILABLE, PhrError, ProofError
from phrchain.core.store import Changes, smt_batch
from phrchain.storage.pruning import (
    Orphan,
    orphaned,
    pack_keys,
    pack_orphans,
    reachable_old,
    unpack_keys,
    unpack_refs,
)
from phrchain.storage.writer import StateWriter

_SCHEMA = """
CREATE TABLE IF NOT EXISTS kv (key BLOB NOT NULL, height INTEGER NOT NULL, value BLOB,
                               PRIMARY KEY (key, height)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS nodes (version INTEGER NOT NULL, hash BLOB NOT NULL,
                                  body BLOB NOT NULL,
                                  PRIMARY KEY (version, hash)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS roots (height INTEGER PRIMARY KEY, root BLOB NOT NULL,
                                  root_version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS orphans (orphaned_at INTEGER PRIMARY KEY, refs BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS changed (height INTEGER PRIMARY KEY, keys BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""
_ITERATE_RANGE: Final = ("SELECT key, value, MAX(height) FROM kv WHERE key >= ? AND key < ? "
                         "AND height <= ? GROUP BY key ORDER BY key LIMIT ?")
_ITERATE_OPEN: Final = ("SELECT key, value, MAX(height) FROM kv WHERE key >= ? "
                        "AND height <= ? GROUP BY key ORDER BY key LIMIT ?")
_ITERATE_CHUNK: Final = 256
# SQLite page cache for the state connection (negative = KiB): 64 MiB.
_PAGE_CACHE_KIB: Final = 64 * 1024
# The node cache keeps two generations of at most this many nodes each (a cheap
# approximation of LRU: hits are promoted to the young generation, and when it fills
# up the old generation is dropped). ~300 bytes per entry: at most ~60 MB.
_NODE_CACHE_GENERATION: Final = 500_000
# Latest-version values (and absences) recently read or written: check_tx and then
# finalize_block read the same keys, and a block's writes are the next block's reads.
_LATEST_CACHE_MAX: Final = 500_000
_MISS: Final = object()


class StateFormatError(PhrError):
    """The state database was written in a layout this version cannot read."""


def connect(path: Path | str) -> sqlite3.Connection:
    """A connection set up for durability: WAL journal, fsync on every commit."""
    conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    return conn


def _first(row: tuple[bytes, bytes | None]) -> bytes:
    return row[0]


def _prefix_end(prefix: bytes) -> bytes | None:
    """Smallest byte string greater than every string starting with ``prefix``."""
    stripped = prefix.rstrip(b"\xff")
    if not stripped:
        return None
    return stripped[:-1] + bytes([stripped[-1] + 1])


def _check_layout(db: sqlite3.Connection) -> None:
    def columns(table: str) -> set[str]:
        return {row[1] for row in db.execute(f"PRAGMA table_info({table})")}

    if "version" not in columns("nodes") or "root_version" not in columns("roots"):
        raise StateFormatError(
            "state database uses the old hash-keyed node layout; move it away and "
            "let the node rebuild the state by replaying its blocks")


def write_version(db: sqlite3.Connection, height: int, root: smt.NodeRef,
                  changes: list[tuple[bytes, bytes | None]],
                  nodes: list[tuple[bytes, bytes]],
                  orphans: list[Orphan] | None = None) -> None:
    """Write one version in one transaction: its nodes, its key changes, its root; with
    ``orphans`` (None: not recorded), those and the keys it changed, for pruning."""
    nodes.sort()  # one version per batch: hash order is key order, a pure append
    changes.sort(key=_first)
    db.execute("BEGIN IMMEDIATE")
    try:
        db.executemany("INSERT INTO nodes (version, hash, body) VALUES (?, ?, ?)",
                       [(height, h, body) for h, body in nodes])
        db.executemany("INSERT INTO kv (key, height, value) VALUES (?, ?, ?)",
                       [(k, height, v) for k, v in changes])
        db.execute("INSERT INTO roots (height, root, root_version) VALUES (?, ?, ?)",
                   (height, root[1], root[0]))
        if orphans is not None:  # one row per version (and table): cheap to write
            db.executemany("INSERT INTO orphans (orphaned_at, refs) VALUES (?, ?) ON "
                           "CONFLICT (orphaned_at) DO UPDATE SET refs = refs || "
                           "excluded.refs", pack_orphans(orphans))
            db.execute("INSERT INTO changed (height, keys) VALUES (?, ?)",
                       (height, pack_keys([k for k, _ in changes])))
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


class SqliteStateStore:
    """A durable :class:`~phrchain.core.store.StateStore`.

    With ``writer=True`` the writes of each commit run in a separate process
    (:mod:`phrchain.storage.writer`) on its own connection, so their CPU is not taken
    from the node's Python thread; reads stay here and see each version once the writer
    has committed it (WAL). ``commit`` returns only after the writer's COMMIT.

    With ``orphans`` (the default) each commit also records what it makes obsolete, so
    ``prune`` costs what it deletes; an archive node passes False."""

    def __init__(self, path: Path | str, writer: bool = False, orphans: bool = True
                 ) -> None:
        self._path = Path(path)
        self._db = connect(path)
        try:
            self._db.execute(f"PRAGMA cache_size=-{_PAGE_CACHE_KIB}")
            self._db.executescript(_SCHEMA)
            _check_layout(self._db)
        except BaseException:
            self._db.close()
            raise
        row = self._db.execute(
            "SELECT height, root_version, root FROM roots ORDER BY height DESC LIMIT 1"
        ).fetchone()
        # (last committed version, its root ref), replaced as one object so a reader in
        # another thread never pairs a height with the next block's root.
        self._head: tuple[int, smt.NodeRef] = (-1, smt.EMPTY_REF) if row is None \
            else (row[0], (row[1], bytes(row[2])))
        # The lowest retained version: 0, or the height of an imported snapshot (state
        # sync), below which nothing can be read or proven.
        lowest = self._db.execute("SELECT MIN(height) FROM roots").fetchone()
        self._base = 0 if lowest is None or lowest[0] is None else int(lowest[0])
        self._young: dict[smt.NodeRef, bytes] = {}
        self._old: dict[smt.NodeRef, bytes] = {}
        self._latest: dict[bytes, bytes | None] = {}
        # Guards the moment the version moves against a reader caching what it read at
        # the previous version (readers run in other threads while a block commits).
        self._latest_lock = threading.Lock()
        # Staged versions not yet committed, oldest first: more than one only when an
        # engine pipelines (stages block N+1 while N's commit is under way); commit()
        # writes the oldest. Their tree nodes stay readable through get_node.
        self._staged: list[tuple[int, smt.NodeRef, dict[bytes, bytes | None],
                                 dict[smt.NodeRef, bytes], list[Orphan] | None]] = []
        self._writer = StateWriter(path) if writer else None
        self._track = orphans
        row = self._db.execute("SELECT value FROM meta WHERE name = 'orphans_from'"
                               ).fetchone()
        # None: this store has versions whose orphans were not recorded after the last
        # one recorded (or none ever were); set or cleared at the first commit.
        self._orphans_from: int | None = None if row is None else int(row[0])
        self._marked = False

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        self._db.close()

    # -- reads ------------------------------------------------------------------------
    def version(self) -> int:
        return self._head[0]

    def lowest_version(self) -> int:
        """The lowest retained version: 0, or where pruning or a snapshot import left it."""
        return self._base

    def _height(self, height: int | None) -> int:
        version = self._head[0]
        if height is None:
            return version
        if not self._base <= height <= version:
            raise HEIGHT_UNAVAILABLE(f"height {height} (have {self._base}..{version})")
        return height

    def _root_ref(self, height: int | None) -> smt.NodeRef:
        version, root = self._head
        if height is None or height == version:
            return root
        h = self._height(height)
        row = self._db.execute("SELECT root_version, root FROM roots WHERE height = ?",
                               (h,)).fetchone()
        if row is None:
            raise HEIGHT_UNAVAILABLE(f"height {h} is not retained")
        return row[0], bytes(row[1])

    def root(self, height: int | None = None) -> bytes:
        return self._root_ref(height)[1]

    def get(self, key: bytes, height: int | None = None) -> bytes | None:
        # Only "latest" reads use the cache: a read at an explicit height must answer for
        # that height even if a commit moves the head meanwhile.
        version = self._head[0]
        latest = height is None
        if latest:
            cached = self._latest.get(key, _MISS)
            if cached is not _MISS:
                return cached  # type: ignore[return-value]
        row = self._db.execute(
            "SELECT value FROM kv WHERE key = ? AND height <= ? ORDER BY height DESC LIMIT 1",
            (key, version if latest else self._height(height))).fetchone()
        value = None if row is None or row[0] is None else bytes(row[0])
        if latest:
            with self._latest_lock:
                if self._head[0] == version:
                    if len(self._latest) >= _LATEST_CACHE_MAX:
                        self._latest.clear()
                    self._latest[key] = value
        return value

    def iterate(self, prefix: bytes, height: int | None = None, start: bytes | None = None
                ) -> Iterator[tuple[bytes, bytes]]:
        """Keyset-paged: each chunk is its own short query at the same height, so no
        cursor stays open across a commit and a caller that stops early reads little."""
        end = _prefix_end(prefix)
        h = self._height(height)
        low = prefix if start is None or start < prefix else start
        while True:
            if end is None:
                rows = self._db.execute(_ITERATE_OPEN, (low, h, _ITERATE_CHUNK)).fetchall()
            else:
                rows = self._db.execute(_ITERATE_RANGE, (low, end, h, _ITERATE_CHUNK))\
                    .fetchall()
            for key, value, _ in rows:
                if value is not None:
                    yield bytes(key), bytes(value)
            if len(rows) < _ITERATE_CHUNK:
                return
            low = bytes(rows[-1][0]) + b"\x00"

    def get_node(self, version: int, node_hash: bytes) -> bytes:
        """:class:`~phrchain.core.smt.NodeReader`: committed node ``(version, hash)``."""
        ref = (version, node_hash)
        body = self._young.get(ref)
        if body is not None:
            return body
        if version > self._head[0]:  # a staged version's node (pipelined staging)
            for staged in tuple(self._staged):  # a copy: the oldest may commit meanwhile
                if staged[0] == version:
                    return staged[3][ref]
            # not found: committed since the check above, so it is in the database
        body = self._old.get(ref)
        if body is None:
            row = self._db.execute("SELECT body FROM nodes WHERE version = ? AND hash = ?",
                                   ref).fetchone()
            if row is None:
                raise KeyError(f"SMT node {version}/{node_hash.hex()}")
            body = bytes(row[0])
        young = self._young
        young[ref] = body
        if len(young) >= _NODE_CACHE_GENERATION:
            self._old, self._young = young, {}
        return body

    def hot_nodes(self) -> dict[smt.NodeRef, bytes]:
        """The young generation of the node cache, for the compiled tree walk to read
        without a Python call per node (``smt._hot_nodes``); its misses call
        :meth:`get_node`, which keeps the cache's generations as before."""
        return self._young

    def _cache_written(self, nodes: dict[smt.NodeRef, bytes]) -> None:
        if len(nodes) > _NODE_CACHE_GENERATION // 2:
            return  # a huge batch (genesis import) would evict everything useful
        young = self._young
        young.update(nodes)
        if len(young) >= _NODE_CACHE_GENERATION:
            self._old, self._young = young, {}

    def prove(self, key: bytes, height: int | None = None) -> smt.SmtProof:
        return smt.prove(self, self._root_ref(height), smt.key_path(key))

    # -- every stored row, for integrity checks (storage.integrity) ---------------------
    def kv_rows(self) -> Iterator[tuple[bytes, int, bytes | None]]:
        """Every version of every key, ``(key, height, value)`` by key then height."""
        return self._rows("SELECT key, height, value FROM kv ORDER BY key, height")

    def node_rows(self) -> Iterator[tuple[int, bytes, bytes]]:
        """Every tree node, ``(version, hash, body)`` by version then hash."""
        return self._rows("SELECT version, hash, body FROM nodes ORDER BY version, hash")

    def root_rows(self) -> Iterator[tuple[int, bytes, int]]:
        """Every committed root, ``(height, root, root_version)`` by height."""
        return self._rows("SELECT height, root, root_version FROM roots ORDER BY height")

    def _rows(self, sql: str) -> Iterator[Any]:
        # A connection of its own: a long scan must not hold the store's cursor.
        db = sqlite3.connect(f"file:{self._path}?mode=ro", uri=True)
        try:
            for row in db.execute(sql):
                yield tuple(bytes(v) if isinstance(v, memoryview) else v for v in row)
        finally:
            db.close()

    # -- writes -----------------------------------------------------------------------
    def stage(self, height: int, changes: Changes) -> bytes:
        """Stage version ``height`` on top of the last staged one, or of the head: an
        engine may stage N+1 while N is committing (``commit`` writes the oldest)."""
        with self._latest_lock:  # the head and the staged list move together in commit
            version, root_ref = self._staged[-1][:2] if self._staged else self._head
        if height != version + 1:
            raise ValueError(f"can only stage height {version + 1}, not {height}")
        root, nodes = smt.update(self, root_ref, smt_batch(changes), height)
        dropped = orphaned(self, root_ref, root, nodes, height) if self._track else None
        with self._latest_lock:
            self._staged.append((height, root, dict(changes), nodes, dropped))
        return root[1]

    def commit(self) -> None:
        """Write the oldest staged version (durably); it becomes the head."""
        if not self._staged:
            raise ValueError("nothing staged")
        height, root, changes, nodes, dropped = self._staged[0]
        change_rows = list(changes.items())
        node_rows = [(h, body) for (_, h), body in nodes.items()]
        if not self._marked:
            self._mark()
        if self._writer is not None:
            self._writer.write(height, root, change_rows, node_rows, dropped)
        else:
            write_version(self._db, height, root, change_rows, node_rows, dropped)
        with self._latest_lock:
            self._head = (height, root)
            del self._staged[0]
            if len(self._latest) + len(changes) > _LATEST_CACHE_MAX:
                self._latest.clear()
            self._latest.update(changes)
        self._cache_written(nodes)

    def discard(self) -> None:
        """Drop every staged version."""
        self._staged = []

    def _mark(self) -> None:
        """Before the first commit of this session: say from which version on orphans
        are recorded (the head, if they were not), or that they no longer are."""
        if self._track and self._orphans_from is None:
            head = self._head[0]
            self._db.execute("INSERT OR REPLACE INTO meta (name, value) "
                             "VALUES ('orphans_from', ?)", (head,))
            self._orphans_from = head
        elif not self._track and self._orphans_from is not None:
            self._db.execute("DELETE FROM meta WHERE name = 'orphans_from'")
            self._orphans_from = None
        self._marked = True

    def prune(self, keep_from: int) -> dict[str, int]:
        """Forget every version below ``keep_from`` (which stays readable and provable,
        as does every later one): their roots, the key versions no retained height reads,
        and the tree nodes no retained root reaches. Returns the rows deleted.

        Those nodes are the ones orphaned at versions up to ``keep_from``, as recorded at
        each commit (:mod:`phrchain.storage.pruning`). Over versions whose orphans were
        not recorded (written before they were, or with ``orphans=False``) the tree at
        the cut is walked instead, once up to the version recording began. Staged
        versions (a pipelining engine's next block) may exist: their trees use new nodes
        and nodes of the head's tree, none of them orphaned up to the head."""
        version = self._head[0]
        if keep_from <= self._base:
            return {"roots": 0, "kv": 0, "nodes": 0}
        if keep_from > version:
            raise ValueError(f"can prune below {version} at most")
        since = self._orphans_from
        if since is None or keep_from <= since:
            return self._prune_walk(keep_from)
        deleted = {"roots": 0, "kv": 0, "nodes": 0}
        if since > self._base:  # versions before recording began: one walk at its start
            deleted = self._prune_walk(since)
        more = self._prune_recorded(keep_from)
        return {name: deleted[name] + more[name] for name in deleted}

    def _prune_walk(self, keep_from: int) -> dict[str, int]:
        keep = reachable_old(self, self._root_ref(keep_from), keep_from)

        def delete(db: sqlite3.Connection) -> dict[str, int]:
            db.execute("CREATE TEMP TABLE IF NOT EXISTS keep_nodes (version INTEGER, "
                       "hash BLOB, PRIMARY KEY (version, hash)) WITHOUT ROWID")
            db.execute("DELETE FROM keep_nodes")
            db.executemany("INSERT OR IGNORE INTO keep_nodes VALUES (?, ?)", keep)
            nodes = db.execute(
                "DELETE FROM nodes WHERE version < ? AND NOT EXISTS (SELECT 1 FROM "
                "keep_nodes k WHERE k.version = nodes.version AND k.hash = nodes.hash)",
                (keep_from,)).rowcount
            kv = db.execute(
                "DELETE FROM kv WHERE height < ? AND EXISTS (SELECT 1 FROM kv later WHERE "
                "later.key = kv.key AND later.height > kv.height AND later.height <= ?)",
                (keep_from, keep_from)).rowcount
            db.execute("DELETE FROM keep_nodes")
            return {"kv": kv, "nodes": nodes}
        return self._prune_with(keep_from, delete)

    def _prune_recorded(self, keep_from: int) -> dict[str, int]:
        base = self._base

        def delete(db: sqlite3.Connection) -> dict[str, int]:
            dropped = db.execute("SELECT refs FROM orphans WHERE orphaned_at <= ?",
                                 (keep_from,)).fetchall()
            nodes = db.executemany("DELETE FROM nodes WHERE version = ? AND hash = ?",
                                   unpack_refs(row[0] for row in dropped)).rowcount
            # Only keys written since the last cut can have a version that is newly
            # shadowed at this one (every older shadowed version went at that cut).
            written = db.execute("SELECT keys FROM changed WHERE height > ? AND height <= ?",
                                 (base, keep_from)).fetchall()
            kv = db.executemany(
                "DELETE FROM kv WHERE key = ?1 AND height < (SELECT MAX(later.height) "
                "FROM kv later WHERE later.key = ?1 AND later.height <= ?2)",
                [(key, keep_from) for key in unpack_keys(row[0] for row in written)]
            ).rowcount
            return {"kv": kv, "nodes": nodes}
        return self._prune_with(keep_from, delete)

    def _prune_with(self, keep_from: int, delete: Any) -> dict[str, int]:
        db = self._db
        base = self._base
        with self._latest_lock:  # refuse reads below keep_from before rows go
            self._base = keep_from
        db.execute("BEGIN IMMEDIATE")
        try:
            deleted: dict[str, int] = delete(db)
            deleted["roots"] = db.execute("DELETE FROM roots WHERE height < ?",
                                          (keep_from,)).rowcount
            db.execute("DELETE FROM orphans WHERE orphaned_at <= ?", (keep_from,))
            db.execute("DELETE FROM changed WHERE height <= ?", (keep_from,))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            with self._latest_lock:
                self._base = base
            raise
        return {"roots": deleted["roots"], "kv": deleted["kv"], "nodes": deleted["nodes"]}

    def import_version(self, height: int, pairs: Mapping[bytes, bytes],
                       expected_root: bytes) -> None:
        """Make an empty store hold ``pairs`` (every live key) as version ``height``, the
        first it retains (a state-sync snapshot); refused, with nothing written, unless
        their root is ``expected_root``."""
        if self._head[0] >= 0 or self._staged:
            raise ValueError("only an empty store imports a snapshot")
        root, nodes = smt.update(self, smt.EMPTY_REF, smt_batch(pairs), height)
        if root[1] != expected_root:
            raise ProofError(f"the snapshot's root {root[1].hex()} is not the trusted app "
                             f"hash {expected_root.hex()}")
        if not self._marked:
            self._mark()
        write_version(self._db, height, root, list(pairs.items()),
                      [(h, body) for (_, h), body in nodes.items()])
        with self._latest_lock:
            self._head, self._base = (height, root), height
            self._latest.clear()
