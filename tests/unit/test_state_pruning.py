"""Pruning the SQLite state store: versions from the pruning height on read, iterate and
prove exactly as before, later blocks give the same roots as on an archive twin, older
heights answer ``query/3 height_unavailable``, and the old rows are gone."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

import pytest

from phrchain.core import smt
from phrchain.core.errors import HEIGHT_UNAVAILABLE, TxError
from phrchain.storage.sqlite_state import SqliteStateStore


def _changes(rnd: random.Random, keys: list[bytes]) -> dict[bytes, bytes | None]:
    changes: dict[bytes, bytes | None] = {}
    for _ in range(40):
        roll = rnd.random()
        if keys and roll < 0.4:
            changes[rnd.choice(keys)] = rnd.randbytes(20)     # overwrite
        elif keys and roll < 0.5:
            changes[rnd.choice(keys)] = None                   # delete
        else:
            key = b"k/" + rnd.randbytes(6).hex().encode()
            keys.append(key)
            changes[key] = rnd.randbytes(20)
    return changes


def _count_nodes(path: Path) -> int:
    db = sqlite3.connect(path)
    try:
        return int(db.execute("SELECT COUNT(*) FROM nodes").fetchone()[0])
    finally:
        db.close()


def test_pruned_store_keeps_every_retained_version_exact(tmp_path: Path) -> None:
    rnd, keys = random.Random(7), []
    pruned = SqliteStateStore(tmp_path / "pruned.db")
    archive = SqliteStateStore(tmp_path / "archive.db")
    for height in range(31):
        changes = _changes(rnd, keys)
        for store in (pruned, archive):
            store.stage(height, changes)
            store.commit()
    nodes_before = _count_nodes(tmp_path / "pruned.db")
    deleted = pruned.prune(20)
    assert deleted["roots"] == 20 and deleted["kv"] > 0 and deleted["nodes"] > 0
    assert _count_nodes(tmp_path / "pruned.db") == nodes_before - deleted["nodes"]
    for height in range(20, 31):
        assert pruned.root(height) == archive.root(height)
        assert list(pruned.iterate(b"k/", height)) == list(archive.iterate(b"k/", height))
        for key in keys[::7]:
            assert pruned.get(key, height) == archive.get(key, height)
            value = pruned.get(key, height)
            proof = pruned.prove(key, height)
            if value is None:
                smt.verify_non_membership(pruned.root(height), key, proof)
            else:
                smt.verify_membership(pruned.root(height), key, value, proof)
    for below in (0, 19):
        with pytest.raises(TxError) as exc:
            pruned.get(keys[0], below)
        assert exc.value.error is HEIGHT_UNAVAILABLE
        with pytest.raises(TxError):
            pruned.root(below)
    for height in range(31, 41):  # the chain goes on identically
        changes = _changes(rnd, keys)
        for store in (pruned, archive):
            store.stage(height, changes)
            store.commit()
        assert pruned.root() == archive.root()
    assert pruned.prune(35)["roots"] == 15
    pruned.close()
    reopened = SqliteStateStore(tmp_path / "pruned.db")  # the base survives a restart
    try:
        with pytest.raises(TxError):
            reopened.get(keys[0], 34)
        assert reopened.root(35) == archive.root(35)
    finally:
        reopened.close()
        archive.close()
