"""Pipelined block production (solo engine, ``NodeConfig.pipeline``): block N+1 executes
on top of block N's uncommitted state while N is stored and committed.

- Determinism: random tx sequences, cut into random blocks, give the same results and
  app hashes whether each block is committed before the next executes or up to two
  blocks are executed ahead of the commits (the application over a real SQLite store),
  and a pipelined node and a serial node write the same chain.
- Durability: nothing is reported committed (nor readable as a block) before its state
  is; a crash while block N commits and N+1 has executed loses only uncommitted txs.
"""

from __future__ import annotations

import itertools
import tempfile
import threading
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from phrchain.app import BlockInfo, new_application
from phrchain.core.errors import DUPLICATE_TX
from phrchain.core.tx import build_tx, tx_hash
from phrchain.engine.solo.home import NodeConfig, init_home
from phrchain.engine.solo.node import SoloNode
from phrchain.engine.solo.verify import verify_chain
from phrchain.storage.sqlite_state import SqliteStateStore
from tests.helpers import (
    AUTHORITY,
    CHAIN_ID,
    VALIDATOR,
    admit_org_msg,
    enc_key,
    genesis,
    signing_key,
)

# (kind, signer index, nonce offset): kind 0 = a patient registers (again: refused),
# 1 = the authority admits an organization (again: refused); offsets other than 0 give
# replayed or skipped nonces, which fail in the block and consume nothing.
_OPS = st.lists(st.tuples(st.integers(0, 1), st.integers(0, 5), st.sampled_from(
    [0, 0, 0, 0, -1, 1])), min_size=1, max_size=40)


def _txs(ops: list[tuple[int, int, int]]) -> list[bytes]:
    """Signed txs for ``ops``, nonces counted as if every earlier tx had succeeded."""
    nonces: dict[str, int] = {}
    raws = []
    for kind, who, offset in ops:
        signer = AUTHORITY if kind else signing_key(100 + who)
        msg = admit_org_msg(signing_key(200 + who)) if kind else \
            {"type": "identity/register_patient", "enc_key": enc_key(who)}
        nonce = nonces.get(signer.did, 0) + 1
        nonces[signer.did] = nonce
        raws.append(build_tx(signer, CHAIN_ID, max(1, nonce + offset), [msg]))
    return raws


def _blocks(raws: list[bytes], cuts: list[int]) -> list[list[bytes]]:
    points = sorted({c % (len(raws) + 1) for c in cuts} | {0, len(raws)})
    return [raws[a:b] for a, b in itertools.pairwise(points)]


def _run(root: Path, blocks: list[list[bytes]], lag: int) -> list[Any]:
    """Execute ``blocks``; with ``lag`` > 0 commit each only once ``lag`` later blocks
    have executed on top of it (and re-check the next txs there, as the node does)."""
    store = SqliteStateStore(root / "state.db")
    app = new_application(store)
    app.init_chain(genesis())
    out: list[Any] = []
    for height, txs in enumerate(blocks, start=1):
        result = app.finalize_block(BlockInfo(height, 1_000 * height), txs)
        out.append((result.app_hash, result.results_root,
                    [(r.code, r.codespace) for r in result.tx_results]))
        if lag == 0:
            app.commit()
            continue
        app.advance_check_state()
        for raw in blocks[height] if height < len(blocks) else []:
            app.check_tx(raw)  # advisory: must not change what the blocks do
        if height > lag:
            app.persist()
            app.finish_commit(keep_check=True)
    while store.version() < len(blocks):
        app.persist()
        app.finish_commit(keep_check=True)
    out.append(store.root())
    assert store.root() == out[-2][0]
    store.close()
    return out


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=_OPS, cuts=st.lists(st.integers(0, 40), max_size=6), lag=st.integers(1, 2))
def test_pipelined_execution_gives_the_serial_blocks(ops: list[tuple[int, int, int]],
                                                     cuts: list[int], lag: int) -> None:
    blocks = _blocks(_txs(ops), cuts)
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "a").mkdir()
        (Path(tmp) / "b").mkdir()
        serial = _run(Path(tmp) / "a", blocks, 0)
        pipelined = _run(Path(tmp) / "b", blocks, lag)
    assert pipelined == serial


def _node(root: Path, pipeline: bool) -> SoloNode:
    init_home(root, genesis(), VALIDATOR.seed,
              NodeConfig(block_interval_ms=10, max_block_txs=5, pipeline=pipeline))
    ticks = iter(range(10_000, 10**9, 1_000))
    return SoloNode(root, clock=lambda: next(ticks))


def test_pipelined_node_writes_the_serial_chain(tmp_path: Path) -> None:
    raws = _txs([(int(i % 3 == 0), i, 0) for i in range(23)])
    chains = []
    for pipeline in (False, True):
        node = _node(tmp_path / str(pipeline), pipeline)
        for raw in raws:
            assert node.submit(raw).ok
        if pipeline:  # execute blocks ahead of their commits, then wait for all
            while node._produce_next() is not None:
                pass
            node._wait_state(node.blocks.height() + node._uncommitted)
        else:
            while node.produce_block() is not None:
                pass
        top = node.blocks.height()
        chains.append([(h.header.hash(), h.header.app_hash)
                       for h in node.blocks.headers(1, top)])
        node.close()
        assert verify_chain(tmp_path / str(pipeline)).ok
    assert len(chains[0]) == 5 and chains[1] == chains[0]


class _Gate:
    """Holds the committer inside ``app.persist`` until released (or makes it fail)."""

    def __init__(self, persist: Any, fail: bool = False) -> None:
        self.entered, self.release = threading.Event(), threading.Event()
        self._persist, self._fail = persist, fail

    def __call__(self) -> None:
        self.entered.set()
        assert self.release.wait(20)
        if self._fail:
            raise KeyboardInterrupt("simulated power loss while the state commits")
        self._persist()


def test_nothing_is_committed_before_its_state(tmp_path: Path) -> None:
    node = _node(tmp_path / "n", True)
    raws = _txs([(0, i, 0) for i in range(6)] + [(1, 0, 0)])
    gate = _Gate(node.app.persist)
    node.app.persist = gate  # type: ignore[method-assign]
    for raw in raws[:5]:
        assert node.submit(raw).ok
    assert node._produce_next() is not None and gate.entered.wait(20)
    for raw in raws[5:]:  # admitted on top of block 1, which is not committed yet
        assert node.submit(raw).ok
    assert node._produce_next() is not None  # block 2 executes while 1 commits
    assert node.tx_status(tx_hash(raws[0]))["status"] == "pending"
    duplicate = node.submit(raws[0])  # still known while its block commits
    assert (duplicate.codespace, duplicate.code) == (DUPLICATE_TX.codespace, DUPLICATE_TX.code)
    assert node.state.version() == 0 and node.block(1) is None and node.header() is None
    gate.release.set()
    node._wait_state(2)
    assert node.tx_status(tx_hash(raws[0]))["status"] == "committed"
    assert node.tx_status(tx_hash(raws[6]))["height"] == 2
    last = node.header()
    assert last is not None and last.header.height == 2
    node.close()
    assert verify_chain(tmp_path / "n").ok


def test_crash_while_committing_loses_only_uncommitted_txs(tmp_path: Path) -> None:
    home = tmp_path / "n"
    node = _node(home, True)
    raws = _txs([(0, i, 0) for i in range(10)])
    gate = _Gate(node.app.persist, fail=True)
    node.app.persist = gate  # type: ignore[method-assign]
    for raw in raws[:5]:
        node.submit(raw)
    node._produce_next()
    assert gate.entered.wait(20)
    for raw in raws[5:]:
        node.submit(raw)
    node._produce_next()  # block 2 executed on top of block 1, neither committed
    gate.release.set()
    with pytest.raises(KeyboardInterrupt):
        node._wait_state(1)
    assert not node.healthy and node.blocks.height() == 1 and node.state.version() == 0
    node._committer.stop()
    node.state.close()
    node.blocks.close()

    reopened = SoloNode(home)  # replays block 1 from the block store
    assert reopened.state.version() == reopened.blocks.height() == 1
    assert all(reopened.tx_status(tx_hash(r))["status"] == "committed" for r in raws[:5])
    assert all(reopened.tx_status(tx_hash(r))["status"] == "unknown" for r in raws[5:])
    header = reopened.header(1)
    assert header is not None and header.header.app_hash == reopened.state.root()
    reopened.close()
    assert verify_chain(home).ok
