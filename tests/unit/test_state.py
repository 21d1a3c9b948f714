from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from phrchain.core.state import Overlay, StoreView
from phrchain.core.store import MemoryStateStore

keys_st = st.binary(min_size=1, max_size=3)


@given(st.dictionaries(keys_st, st.binary(max_size=2), max_size=12),
       st.dictionaries(keys_st, st.none() | st.binary(max_size=2), max_size=12),
       st.binary(max_size=1))
def test_overlay_iterate_matches_a_plain_merge(base: dict, changes: dict, prefix: bytes) -> None:
    store = MemoryStateStore()
    store.stage(0, base)
    store.commit()
    overlay = Overlay(StoreView(store.get, store.iterate))
    for key, value in changes.items():
        if value is None:
            overlay.delete(key)
        else:
            overlay.set(key, value)
    expected = {**base, **changes}
    want = sorted((k, v) for k, v in expected.items() if v is not None and k.startswith(prefix))
    assert list(overlay.iterate(prefix)) == want
    for key in expected:
        assert overlay.get(key) == expected[key]


def test_nested_overlay_flush_only_on_success() -> None:
    store = MemoryStateStore()
    block = Overlay(StoreView(store.get, store.iterate))
    tx = Overlay(block)
    tx.set(b"a", b"1")
    assert block.get(b"a") is None
    tx.flush(block)
    assert block.get(b"a") == b"1"


def test_iterate_with_start_agrees_across_stores_and_pages_in_chunks(tmp_path) -> None:
    from phrchain.storage.sqlite_state import SqliteStateStore

    memory, sqlite = MemoryStateStore(), SqliteStateStore(tmp_path / "s.db")
    base = {b"p/%04d" % i: b"v%d" % i for i in range(700)}  # > 2 chunks of 256
    base.update({b"q/1": b"x", b"o/9": b"y"})
    for store in (memory, sqlite):
        store.stage(0, base)
        store.commit()
        store.stage(1, {b"p/0100": None, b"p/0500": b"new"})
        store.commit()
    for start in (None, b"p/0099", b"p/0100", b"p/0255\x00", b"p/06", b"p/9", b"a", b"z"):
        for height in (0, 1):
            got = list(sqlite.iterate(b"p/", height, start))
            assert got == list(memory.iterate(b"p/", height, start)), (start, height)
            want = sorted((k, v) for k, v in base.items() if k.startswith(b"p/")
                          and (start is None or k >= start))
            if height == 1:
                want = [(k, b"new" if k == b"p/0500" else v) for k, v in want
                        if k != b"p/0100"]
            assert got == want, (start, height)
    overlay = Overlay(StoreView(sqlite.get, sqlite.iterate))
    overlay.set(b"p/0300\x01", b"pending")
    overlay.delete(b"p/0301")
    page = list(overlay.iterate(b"p/", b"p/0300"))[:3]
    assert page == [(b"p/0300", b"v300"), (b"p/0300\x01", b"pending"), (b"p/0302", b"v302")]
    sqlite.close()
