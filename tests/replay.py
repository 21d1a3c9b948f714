"""One determinism check for the module tests: a memory store and a SQLite store run the
same blocks to the same roots, and a fresh application replaying the recorded blocks
from genesis reproduces every app hash and results root."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from phrchain.app import BlockInfo
from phrchain.core.store import MemoryStateStore
from phrchain.storage.sqlite_state import SqliteStateStore
from tests.helpers import Chain

Block = tuple[int, int, list[bytes], bytes, bytes]  # height, time, txs, app hash, results


def backends_agree_and_replay(tmp_path: Path, plan: Any, make_world: Callable[[Chain], Any],
                              prelude: Callable[[Any], None],
                              run: Callable[[Any, list[Any], list[Block]], Any]) -> None:
    """``run(plan, worlds, blocks)`` drives the worlds in lockstep and records each block."""
    db = tmp_path / f"state-{hashlib.sha256(str(plan).encode()).hexdigest()[:16]}.db"
    db.unlink(missing_ok=True)
    memory = make_world(Chain.new(MemoryStateStore()))
    sqlite = make_world(Chain.new(SqliteStateStore(db)))
    for world in (memory, sqlite):
        prelude(world)
    assert memory.chain.app.store.root() == sqlite.chain.app.store.root()
    blocks: list[Block] = []
    run(plan, [memory, sqlite], blocks)
    # A third application replays every block from genesis: the prelude's txs are
    # rebuilt the same way, then the recorded ones.
    again = make_world(Chain.new(MemoryStateStore()))
    prelude(again)
    app = again.chain.app
    for height, time_ms, txs, app_hash, results_root in blocks:
        result = app.finalize_block(BlockInfo(height, time_ms), txs)
        app.commit()
        assert (result.app_hash, result.results_root) == (app_hash, results_root)
