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


ops_st = st.lists(st.tuples(st.sampled_from(["set", "delete", "flush", "scan"]), keys_st,
                            st.binary(max_size=2), st.binary(max_size=2)), max_size=80)


@given(st.dictionaries(keys_st, st.binary(max_size=2), max_size=12), ops_st)
def test_nested_overlays_scan_like_a_dict_model_across_index_merges(base: dict,
                                                                    ops: list) -> None:
    """A block overlay with tx overlays flushed into it, scanned after every step; the
    merge threshold is lowered so the sorted index and its unsorted tail both take part."""
    store = MemoryStateStore()
    store.stage(0, base)
    store.commit()
    saved = Overlay._MERGE_AT
    Overlay._MERGE_AT = 3
    try:
        block = Overlay(StoreView(store.get, store.iterate))
        tx, committed, pending = Overlay(block), dict(base), {}
        for op, key, value, prefix in ops:
            if op == "set":
                tx.set(key, value)
                pending[key] = value
            elif op == "delete":
                tx.delete(key)
                pending[key] = None
            elif op == "flush":
                tx.flush(block)
                committed.update(pending)
                tx, pending = Overlay(block), {}
            for layer, model in ((block, committed), (tx, {**committed, **pending})):
                want = sorted((k, v) for k, v in model.items()
                              if v is not None and k.startswith(prefix))
                assert list(layer.iterate(prefix)) == want
                start = prefix + b"\x80"
                assert list(layer.iterate(prefix, start)) == [kv for kv in want
                                                              if kv[0] >= start]
    finally:
        Overlay._MERGE_AT = saved
