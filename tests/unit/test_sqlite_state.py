"""SqliteStateStore against MemoryStateStore, history, and version-ordered node storage."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

import pytest

from phrchain.core import smt
from phrchain.core.errors import TxError
from phrchain.core.store import MemoryStateStore
from phrchain.storage import sqlite_state
from phrchain.storage.sqlite_state import SqliteStateStore, StateFormatError

Batch = dict[bytes, bytes | None]


def random_batches(seed: int, n: int, pool: int = 80, max_size: int = 30) -> list[Batch]:
    """Inserts, overwrites (sometimes with the same value), deletes, empty batches."""
    rnd = random.Random(seed)
    keys = [b"k/%d" % i for i in range(pool)]
    batches: list[Batch] = []
    for _ in range(n):
        batch: Batch = {}
        for _ in range(rnd.choice([0, 1, 2, rnd.randint(1, max_size)])):
            k = rnd.choice(keys)
            batch[k] = None if rnd.random() < 0.25 else bytes([rnd.randrange(4)]) * 3
        batches.append(batch)
    return batches


def probe_keys(batches: list[Batch]) -> list[bytes]:
    return [*sorted({k for b in batches for k in b}), b"absent/1", b"absent/2"]


def assert_same(sql: SqliteStateStore, mem: MemoryStateStore, keys: list[bytes]) -> None:
    assert sql.version() == mem.version()
    assert sql.root() == mem.root()
    for h in range(mem.version() + 1):
        root = mem.root(h)
        assert sql.root(h) == root
        for k in keys:
            proof = sql.prove(k, h)
            assert proof == mem.prove(k, h)  # byte-identical siblings and leaf
            value = mem.get(k, h)
            assert sql.get(k, h) == value
            if value is None:
                smt.verify_non_membership(root, k, proof)
            else:
                smt.verify_membership(root, k, value, proof)
        assert list(sql.iterate(b"k/", h)) == list(mem.iterate(b"k/", h))


def commit(store: SqliteStateStore | MemoryStateStore, batch: Batch) -> bytes:
    root = store.stage(store.version() + 1, batch)
    store.commit()
    return root


# --------------------------------------------------------------------------------------
# 1. Same batches, same roots and proofs; also across close/reopen.


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("tiny_cache", [False, True], ids=["cache", "tiny-cache"])
def test_sqlite_matches_memory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                               seed: int, tiny_cache: bool) -> None:
    if tiny_cache:  # most node reads then go to SQLite, and the cache stays tiny
        monkeypatch.setattr(sqlite_state, "_NODE_CACHE_GENERATION", 16)
    batches = random_batches(seed, 30)
    keys = probe_keys(batches)
    db = tmp_path / "state.db"
    mem = MemoryStateStore()
    sql = SqliteStateStore(db)
    for i, batch in enumerate(batches[:20]):
        assert sql.stage(i, batch) == mem.stage(i, batch)
        if i % 7 == 3:  # a discarded stage leaves no trace
            sql.discard()
            sql.stage(i, {b"k/0": b"discarded"})
            sql.discard()
            sql.stage(i, batch)
        sql.commit()
        mem.commit()
        assert sql.root() == mem.root()
    assert_same(sql, mem, keys)
    if tiny_cache:
        assert len(sql._young) + len(sql._old) <= 2 * 16
    sql.close()

    sql = SqliteStateStore(db)
    assert_same(sql, mem, keys)
    for batch in batches[20:]:  # keep going on the reopened file
        assert commit(sql, batch) == commit(mem, batch)
    assert_same(sql, mem, keys)
    sql.close()
    sql = SqliteStateStore(db)
    assert_same(sql, mem, keys)
    sql.close()


def test_reopen_after_blocks_that_change_nothing(tmp_path: Path) -> None:
    # The current root was created several heights ago: its version must be persisted,
    # not guessed from the height.
    db = tmp_path / "state.db"
    mem = MemoryStateStore()
    sql = SqliteStateStore(db)
    for batch in [{b"k/1": b"a", b"k/2": b"b"}, {}, {b"k/9": None}, {}]:
        assert commit(sql, batch) == commit(mem, batch)
    row = sql._db.execute("SELECT root_version FROM roots WHERE height = 3").fetchone()
    assert row == (0,)
    sql.close()
    sql = SqliteStateStore(db)
    assert commit(sql, {b"k/3": b"c"}) == commit(mem, {b"k/3": b"c"})
    assert_same(sql, mem, [b"k/1", b"k/2", b"k/3", b"k/9"])
    sql.close()


def test_empty_store(tmp_path: Path) -> None:
    sql = SqliteStateStore(tmp_path / "state.db")
    assert sql.version() == -1
    assert sql.root() == smt.EMPTY
    smt.verify_non_membership(smt.EMPTY, b"k", sql.prove(b"k"))
    with pytest.raises(TxError):
        sql.root(0)
    with pytest.raises(ValueError):
        sql.stage(1, {})
    with pytest.raises(ValueError):
        sql.commit()
    sql.close()


# --------------------------------------------------------------------------------------
# 2. History: old heights stay provable after many later versions.


def test_old_heights_remain_provable(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    sql = SqliteStateStore(db)
    keys = [b"k/%d" % i for i in range(25)]
    rnd = random.Random(7)
    snapshots: list[dict[bytes, bytes]] = []
    live: dict[bytes, bytes] = {}
    for height in range(120):  # every key is rewritten or deleted many times over
        batch: Batch = {}
        for k in rnd.sample(keys, 6):
            batch[k] = None if rnd.random() < 0.3 else b"h%d" % height
        commit(sql, batch)
        for k, v in batch.items():
            if v is None:
                live.pop(k, None)
            else:
                live[k] = v
        snapshots.append(dict(live))
    sql.close()

    sql = SqliteStateStore(db)
    assert sql.version() == 119
    for height in (0, 1, 2, 10, 50, 99, 118, 119):
        root = sql.root(height)
        for k in keys:
            proof = sql.prove(k, height)
            if k in snapshots[height]:
                smt.verify_membership(root, k, snapshots[height][k], proof)
            else:
                smt.verify_non_membership(root, k, proof)
    with pytest.raises(TxError):
        sql.prove(keys[0], 120)
    sql.close()


# --------------------------------------------------------------------------------------
# 3. Locality, structurally: a commit only appends rows at the end of the nodes table.


def _node_rows(db: Path) -> list[tuple[int, bytes, bytes]]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT version, hash, body FROM nodes ORDER BY version, hash")\
            .fetchall()
    finally:
        conn.close()


def test_commit_appends_rows_of_its_own_version(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    sql = SqliteStateStore(db)
    rnd = random.Random(3)
    keys = [b"acct/%d" % i for i in range(400)]
    before = _node_rows(db)
    assert before == []
    for height in range(12):
        batch: Batch = {k: b"v%d" % rnd.getrandbits(16) for k in rnd.sample(keys, 60)}
        if height > 2:
            batch.update(dict.fromkeys(rnd.sample(keys, 10)))
        sql.stage(height, batch)
        assert len(sql._staged) == 1
        staged_nodes = sql._staged[0][3]
        sql.commit()
        after = _node_rows(db)
        # Earlier rows are untouched, and are a prefix of the table in key order...
        assert after[:len(before)] == before
        added = after[len(before):]
        # ...followed by exactly this commit's nodes, all with version == height, so
        # their primary keys sort after every row of every earlier version.
        assert added
        assert {(v, h): b for v, h, b in added} == staged_nodes
        assert all(v == height for v, _, _ in added)
        assert all(row[0] < height for row in before)
        # Internal bodies carry their children's storage keys: each non-EMPTY child
        # reference is a stored row (no hash index needed), never newer than its parent.
        stored = {(v, h) for v, h, _ in after}
        for v, _h, body in added:
            for cv, ch in smt.child_refs(body) or ():
                assert (cv, ch) == (0, smt.EMPTY) if ch == smt.EMPTY else (cv, ch) in stored
                assert cv <= v
        before = after
    sql.close()


def test_rejects_old_hash_keyed_layout(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    conn = sqlite3.connect(db)
    conn.executescript("""
        CREATE TABLE nodes (hash BLOB PRIMARY KEY, body BLOB NOT NULL) WITHOUT ROWID;
        CREATE TABLE roots (height INTEGER PRIMARY KEY, root BLOB NOT NULL);
    """)
    conn.close()
    with pytest.raises(StateFormatError):
        SqliteStateStore(db)
