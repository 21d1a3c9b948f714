"""Recorded chains replay to the same app hash and results root at every height.

Each file in ``tests/vectors/chain/`` was written by ``scripts/export_chain_vector.py``
from a real chain (its ``source`` says which). A change to any state byte, key, event,
error code or result of any module fails here, which is what a refactor must not do and
what a consensus change must do only through a new version (STYLE "versioned rules").
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from phrchain.app import BlockInfo, new_application
from phrchain.core import encoding
from phrchain.core.store import MemoryStateStore
from phrchain.core.tx import decode_tx
from tests.conftest import load_vectors

CHAINS = load_vectors("chain")


def _message_types(case: dict[str, Any]) -> Counter[str]:
    return Counter(m["type"] for b in case["blocks"] for raw in b["txs"]
                   for m in decode_tx(bytes.fromhex(raw)).msgs)


@pytest.mark.parametrize(("name", "case"), CHAINS, ids=[n for n, _ in CHAINS])
def test_recorded_chain_replays_to_the_same_hashes(name: str, case: dict[str, Any]) -> None:
    app = new_application(MemoryStateStore())
    app.init_chain(case["genesis"])
    for block in case["blocks"]:
        raws = [bytes.fromhex(t) for t in block["txs"]]
        result = app.finalize_block(BlockInfo(block["height"], block["time_ms"]), raws)
        app.commit()
        assert result.app_hash.hex() == block["app_hash"], f"{name} height {block['height']}"
        assert result.results_root.hex() == block["results_root"], \
            f"{name} height {block['height']}"


def test_demo_chain_covers_every_module() -> None:
    case = dict(CHAINS)["demo_seed7"]
    modules = {t.split("/")[0] for t in _message_types(case)}
    assert modules >= {"identity", "records", "consent", "exchange", "audit", "settlement",
                       "claims", "supply", "trials", "research"}
    assert {"research/donate", "research/register_study", "research/request",
            "research/release"} <= set(_message_types(case))
    assert case["genesis"]["app_state"]["research"]["params"]["terms"]


def test_a_changed_tx_is_caught() -> None:
    """The check is not vacuous: a tx dropped from one block changes that block's hashes."""
    case = dict(CHAINS)["demo_seed7"]
    app = new_application(MemoryStateStore())
    app.init_chain(case["genesis"])
    busy = next(b for b in case["blocks"] if len(b["txs"]) > 1)
    for block in case["blocks"]:
        raws = [bytes.fromhex(t) for t in block["txs"]]
        if block is busy:
            raws = raws[1:]
        result = app.finalize_block(BlockInfo(block["height"], block["time_ms"]), raws)
        app.commit()
        if block is busy:
            assert result.app_hash.hex() != block["app_hash"]
            return
    pytest.fail("no block with two txs")


def test_vector_is_canonical_json_free_of_floats() -> None:
    for _, case in CHAINS:
        encoding.encode(case["genesis"])  # raises on a float or a non-canonical value


def test_a_version_1_chain_is_refused_with_the_release_to_use() -> None:
    """The v1 demo chain (recorded before issue 14) is kept to show the genesis cut: its
    genesis declares no ``app_state.version``, so a v2 node refuses to start it rather
    than replay it under rules it was not made with (docs/privacy.md, Migration)."""
    (name, case), = load_vectors("chain_v1")
    assert name == "demo_seed7_v1" and "version" not in case["genesis"]["app_state"]
    app = new_application(MemoryStateStore())
    with pytest.raises(ValueError, match="version 1 chains are not supported"):
        app.init_chain(case["genesis"])
    assert app.store.version() < 0   # nothing was written
