"""The v2 genesis cut (docs/privacy-v2-design.md § 0): a genesis must declare
``app_state.version`` 2; anything else is refused before a byte of state is written."""

from __future__ import annotations

from typing import Any

import pytest

from phrchain.app import STATE_VERSION, new_application
from phrchain.core.store import MemoryStateStore
from tests.helpers import genesis


def _without_version() -> dict[str, Any]:
    g = genesis()
    del g["app_state"]["version"]
    return g


@pytest.mark.parametrize("make, shown", [
    (_without_version, "missing"),
    (lambda: {**genesis(), "app_state": {**genesis()["app_state"], "version": 1}}, "1"),
    (lambda: {**genesis(), "app_state": {**genesis()["app_state"], "version": 3}}, "3"),
    (lambda: {**genesis(), "app_state": {**genesis()["app_state"], "version": "2"}}, "'2'"),
    (lambda: {**genesis(), "app_state": {**genesis()["app_state"], "version": True}}, "True"),
    (lambda: {k: v for k, v in genesis().items() if k != "app_state"}, "missing"),
])
def test_a_genesis_without_version_2_is_refused_and_writes_nothing(make: Any,
                                                                   shown: str) -> None:
    store = MemoryStateStore()
    app = new_application(store)
    with pytest.raises(ValueError, match="version 1 chains are not supported") as refused:
        app.init_chain(make())
    assert f"version is {shown}" in str(refused.value)
    assert store.version() == -1  # nothing committed: the chain is not initialised
    assert app.chain_id == ""


def test_a_version_2_genesis_is_accepted() -> None:
    assert STATE_VERSION == 2
    g = genesis()
    assert g["app_state"]["version"] == 2
    app = new_application(MemoryStateStore())
    app_hash = app.init_chain(g)
    assert len(app_hash) == 32 and app.store.version() == 0
    assert app.chain_id == g["chain_id"]
