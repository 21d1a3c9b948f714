from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from phrchain.core.state import Overlay
from phrchain.core.store import MemoryStateStore

keys_st = st.binary(min_size=1, max_size=3)


@given(st.dictionaries(keys_st, st.binary(max_size=2), max_size=12),
       st.dictionaries(keys_st, st.none() | st.binary(max_size=2), max_size=12),
       st.binary(max_size=1))
def test_overlay_iterate_matches_a_plain_merge(base: dict, changes: dict, prefix: bytes) -> None:
    store = MemoryStateStore()
    store.stage(0, base)
    store.commit()
    overlay = Overlay(store)
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
    block = Overlay(store)
    tx = Overlay(block)
    tx.set(b"a", b"1")
    assert block.get(b"a") is None
    tx.flush(block)
    assert block.get(b"a") == b"1"
