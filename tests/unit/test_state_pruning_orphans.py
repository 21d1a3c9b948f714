"""Incremental pruning (orphans recorded at each commit) against the full tree walk it
replaced: random writes and deletes over many versions, pruned at random cuts; every
retained version reads and proves exactly as on an unpruned archive, and the pruned store
holds exactly the rows the walk-based prune leaves. Both tree-update paths (compiled and
reference) record the same orphans; the writer process records them too; a store written
before orphans were recorded is pruned correctly (a walk up to where recording began)."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

import pytest

from phrchain.core import smt
from phrchain.core.accel import native
from phrchain.storage.pruning import unpack_refs
from phrchain.storage.sqlite_state import SqliteStateStore

PATHS = ["reference"] + (["compiled"] if native is not None else [])


def _changes(rnd: random.Random, keys: list[bytes]) -> dict[bytes, bytes | None]:
    changes: dict[bytes, bytes | None] = {}
    for _ in range(rnd.randint(0, 30)):
        roll = rnd.random()
        if keys and roll < 0.35:
            changes[rnd.choice(keys)] = rnd.randbytes(8)          # overwrite
        elif keys and roll < 0.6:
            changes[rnd.choice(keys)] = None                      # delete (maybe absent)
        elif keys and roll < 0.65:
            key = rnd.choice(keys)                                # same value again
            changes[key] = changes.get(key) or rnd.randbytes(8)
        else:
            key = b"k/" + rnd.randbytes(3).hex().encode()
            keys.append(key)
            changes[key] = rnd.randbytes(8)
    return changes


def _rows(path: Path, table: str) -> list[tuple[object, ...]]:
    db = sqlite3.connect(path)
    try:
        return sorted(db.execute(f"SELECT * FROM {table}").fetchall())  # noqa: S608
    finally:
        db.close()


def _same_versions(store: SqliteStateStore, archive: SqliteStateStore,
                   keys: list[bytes]) -> None:
    for height in range(store.lowest_version(), store.version() + 1):
        root = archive.root(height)
        assert store.root(height) == root
        assert list(store.iterate(b"k/", height)) == list(archive.iterate(b"k/", height))
        for key in keys[::3]:
            value = archive.get(key, height)
            assert store.get(key, height) == value
            proof = store.prove(key, height)
            assert proof == archive.prove(key, height)
            if value is None:
                smt.verify_non_membership(root, key, proof)
            else:
                smt.verify_membership(root, key, value, proof)


@pytest.fixture(params=PATHS)
def tree_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "reference":
        monkeypatch.setattr(smt, "_native", None)
    return str(request.param)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_recorded_orphans_prune_exactly_what_the_full_walk_prunes(
        tmp_path: Path, tree_path: str, seed: int) -> None:
    rnd, keys = random.Random(seed), []
    fast = SqliteStateStore(tmp_path / "fast.db")                       # records orphans
    walk = SqliteStateStore(tmp_path / "walk.db", orphans=False)        # walks the tree
    archive = SqliteStateStore(tmp_path / "archive.db", orphans=False)  # never pruned
    stores = (fast, walk, archive)
    try:
        for height in range(60):
            changes = _changes(rnd, keys)
            for store in stores:
                store.stage(height, changes)
                store.commit()
            if rnd.random() < 0.3 and height > fast.lowest_version():
                cut = rnd.randint(fast.lowest_version() + 1, height)
                assert fast.prune(cut) == walk.prune(cut)
                for table in ("nodes", "kv", "roots"):
                    assert _rows(tmp_path / "fast.db", table) == \
                        _rows(tmp_path / "walk.db", table)
                _same_versions(fast, archive, keys)
        assert _rows(tmp_path / "walk.db", "orphans") == []  # archive-style: none kept
        assert fast.prune(fast.version()) == walk.prune(walk.version())
        assert _rows(tmp_path / "fast.db", "nodes") == _rows(tmp_path / "walk.db", "nodes")
        assert _rows(tmp_path / "fast.db", "orphans") == []
        assert _rows(tmp_path / "fast.db", "changed") == []
        _same_versions(fast, archive, keys)
    finally:
        for store in stores:
            store.close()


def test_both_tree_paths_and_the_writer_process_record_the_same_orphans(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rnd, keys = random.Random(9), []
    batches = [_changes(rnd, keys) for _ in range(25)]
    names = ["reference", "writer"] + (["compiled"] if native is not None else [])
    for name in names:
        monkeypatch.setattr(smt, "_native", None if name == "reference" else native)
        store = SqliteStateStore(tmp_path / f"{name}.db", writer=name == "writer")
        for height, changes in enumerate(batches):
            store.stage(height, changes)
            store.commit()
        store.close()
    orphans = _rows(tmp_path / "reference.db", "orphans")
    assert len(list(unpack_refs(bytes(row[1]) for row in orphans))) > 100
    for name in names[1:]:
        assert _rows(tmp_path / f"{name}.db", "orphans") == orphans
        assert _rows(tmp_path / f"{name}.db", "nodes") == \
            _rows(tmp_path / "reference.db", "nodes")


def test_pruning_while_the_next_version_is_staged(tmp_path: Path) -> None:
    """As the pipelined solo engine does: stage N+1, commit N, prune at N, commit N+1."""
    rnd, keys = random.Random(4), []
    fast = SqliteStateStore(tmp_path / "fast.db")
    archive = SqliteStateStore(tmp_path / "archive.db", orphans=False)
    try:
        batches = [_changes(rnd, keys) for _ in range(40)]
        for store in (fast, archive):
            store.stage(0, batches[0])
        for height in range(1, 40):
            for store in (fast, archive):
                store.stage(height, batches[height])
                store.commit()
            if height % 4 == 0:
                fast.prune(height - 2)
                _same_versions(fast, archive, keys)
        for store in (fast, archive):
            store.commit()
        _same_versions(fast, archive, keys)
        fast.prune(39)
        _same_versions(fast, archive, keys)
    finally:
        fast.close()
        archive.close()


def test_a_store_written_before_orphans_were_recorded_prunes_correctly(
        tmp_path: Path) -> None:
    rnd, keys = random.Random(5), []
    old = SqliteStateStore(tmp_path / "old.db", orphans=False)
    walk = SqliteStateStore(tmp_path / "walk.db", orphans=False)
    archive = SqliteStateStore(tmp_path / "archive.db", orphans=False)
    batches = [_changes(rnd, keys) for _ in range(50)]
    for height in range(20):
        for store in (old, walk, archive):
            store.stage(height, batches[height])
            store.commit()
    old.prune(6)
    walk.prune(6)
    old.close()
    db = sqlite3.connect(tmp_path / "old.db")  # the tables as a release before had them
    db.executescript("DROP TABLE orphans; DROP TABLE changed; DROP TABLE meta;")
    db.close()
    old = SqliteStateStore(tmp_path / "old.db")  # records orphans from version 19 on
    try:
        for height in range(20, 50):
            for store in (old, walk, archive):
                store.stage(height, batches[height])
                store.commit()
            if height in (24, 30, 31, 40, 49):
                cut = {24: 12, 30: 25, 31: 27, 40: 33, 49: 49}[height]
                assert old.prune(cut) == walk.prune(cut)
                assert _rows(tmp_path / "old.db", "nodes") == \
                    _rows(tmp_path / "walk.db", "nodes")
                assert _rows(tmp_path / "old.db", "kv") == _rows(tmp_path / "walk.db", "kv")
                _same_versions(old, archive, keys)
    finally:
        for store in (old, walk, archive):
            store.close()


def test_an_archive_session_stops_the_records_and_pruning_walks_again(
        tmp_path: Path) -> None:
    rnd, keys = random.Random(6), []
    path = tmp_path / "state.db"
    walk = SqliteStateStore(tmp_path / "walk.db", orphans=False)
    batches = [_changes(rnd, keys) for _ in range(30)]
    sessions = [(0, 10, True), (10, 20, False), (20, 30, True)]
    for first, end, record in sessions:
        store = SqliteStateStore(path, orphans=record)
        for height in range(first, end):
            for each in (store, walk):
                each.stage(height, batches[height])
                each.commit()
        cut = end - 3
        assert store.prune(cut) == walk.prune(cut)
        assert _rows(path, "nodes") == _rows(tmp_path / "walk.db", "nodes")
        assert _rows(path, "kv") == _rows(tmp_path / "walk.db", "kv")
        store.close()
    walk.close()
