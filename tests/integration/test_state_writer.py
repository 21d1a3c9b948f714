"""State commits through the writer process: same result as in-process, and a writer
that dies fails the commit without moving the store."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from phrchain.storage.sqlite_state import SqliteStateStore
from phrchain.storage.writer import StateWriteError, decode_batch, encode_batch


@given(st.integers(0, 2**63 - 1), st.integers(0, 2**63 - 1), st.binary(min_size=32, max_size=32),
       st.lists(st.tuples(st.binary(max_size=70), st.none() | st.binary(max_size=300))),
       st.lists(st.tuples(st.binary(min_size=32, max_size=32), st.binary(max_size=255))),
       st.none() | st.lists(st.tuples(st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1),
                                      st.binary(min_size=32, max_size=32)), max_size=50))
@settings(deadline=None)  # no time limit per example: the machine may be busy
def test_batch_framing_round_trips(height: int, version: int, root: bytes,
                                   changes: list, nodes: list, orphans: list | None) -> None:
    frame = encode_batch(height, (version, root), changes, nodes, orphans)
    assert decode_batch(frame) == (height, (version, root), changes, nodes, orphans)
    with pytest.raises(ValueError):
        decode_batch(frame + b"\x00")


def _batches(seed: int) -> list[dict[bytes, bytes | None]]:
    rng = random.Random(seed)
    keys = [b"k/%d" % i for i in range(400)]
    return [{rng.choice(keys): (None if rng.random() < 0.1 else rng.randbytes(20))
             for _ in range(150)} for _ in range(8)]


def test_writer_process_gives_the_same_store(tmp_path: Path) -> None:
    local = SqliteStateStore(tmp_path / "local.db")
    remote = SqliteStateStore(tmp_path / "remote.db", writer=True)
    for height, batch in enumerate(_batches(1)):
        assert local.stage(height, batch) == remote.stage(height, batch)
        local.commit()
        remote.commit()
        assert remote.version() == height
        for key in list(batch)[:20]:
            assert remote.get(key) == local.get(key)
            assert remote.prove(key) == local.prove(key)
    assert list(remote.iterate(b"k/")) == list(local.iterate(b"k/"))
    remote.close()
    reopened = SqliteStateStore(tmp_path / "remote.db")
    assert [reopened.root(h) for h in range(8)] == [local.root(h) for h in range(8)]
    reopened.close()
    local.close()


def test_dead_writer_fails_the_commit_and_keeps_the_version(tmp_path: Path) -> None:
    store = SqliteStateStore(tmp_path / "s.db", writer=True)
    batches = _batches(2)
    store.stage(0, batches[0])
    store.commit()
    root0 = store.root()
    assert store._writer is not None
    store._writer._proc.kill()
    store._writer._proc.wait()
    store.stage(1, batches[1])
    with pytest.raises(StateWriteError):
        store.commit()
    assert (store.version(), store.root()) == (0, root0)
    store.close()
    reopened = SqliteStateStore(tmp_path / "s.db")
    assert (reopened.version(), reopened.root()) == (0, root0)
    reopened.close()
