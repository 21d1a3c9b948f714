"""``phrchain verify``: re-check a solo chain from genesis, trusting nothing on disk.

For every height: chain id, height sequence, ``prev_hash`` link, proposer identity and
signature, ``tx_root`` over the stored txs, a full replay of the txs from genesis in a
fresh in-memory state (app hash and ``results_root`` must match the header, and the
stored per-tx results must match the replayed ones), that the block store's lookup
columns (block hash, tx hash) agree with what they index, and — when the node's state
store is present — that its recorded app hash at that height agrees too and, at the end,
that every row of the state database (every version of every key, every tree node, every
root) equals what the replay wrote: an edited value is caught even though it leaves the
stored root unchanged (``storage.integrity``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from phrchain.app import Application, BlockInfo, new_application
from phrchain.core import keys
from phrchain.core.block import GENESIS_PREV_HASH, SignedHeader, tx_root
from phrchain.core.errors import CryptoError, PhrError
from phrchain.core.store import MemoryStateStore
from phrchain.engine.solo.home import data_dir, load_genesis
from phrchain.storage.blocks import SqliteBlockStore
from phrchain.storage.integrity import (
    StateIntegrityError,
    check_latest_state,
    first_difference,
)
from phrchain.storage.sqlite_state import SqliteStateStore

Progress = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class VerifyReport:
    ok: bool
    checked: int
    first_bad_height: int | None
    reason: str


class _Bad(Exception):
    pass


def verify_chain(home: Path, progress: Progress | None = None) -> VerifyReport:
    genesis = load_genesis(home)
    blocks_path = data_dir(home) / "blocks.db"
    if not blocks_path.exists():
        return VerifyReport(False, 0, 1, f"{blocks_path} is missing: the block store is lost")
    # State first, then blocks: a running node writes a block before its state, so read
    # in this order the block store is never behind the state store's version.
    state_path = data_dir(home) / "state.db"
    state = SqliteStateStore(state_path) if state_path.exists() else None
    blocks = SqliteBlockStore(blocks_path)
    try:
        return _verify(genesis, blocks, state, progress)
    finally:
        blocks.close()
        if state is not None:
            state.close()


def _verify(genesis: dict[str, object], blocks: SqliteBlockStore,
            state: SqliteStateStore | None, progress: Progress | None) -> VerifyReport:
    validator = str(genesis["validator"])
    validator_key = keys.public_key_from_did(validator)
    replica = new_application(MemoryStateStore())
    genesis_hash = replica.init_chain(genesis)
    lowest = state.lowest_version() if state is not None else 0  # > 0: a pruned store
    if state is not None and state.version() >= 0 and lowest == 0 \
            and state.root(0) != genesis_hash:
        return VerifyReport(False, 0, 0, "state store's genesis app hash differs from "
                            "the genesis file replayed")
    top = blocks.height()
    if state is not None and state.version() > top:
        return VerifyReport(False, 0, top + 1, f"the state store is at height "
                            f"{state.version()} but the block store ends at {top}: blocks "
                            "were lost")
    prev: SignedHeader | None = None
    for height in range(1, top + 1):
        try:
            prev = _check_block(height, prev, blocks, replica, validator_key, state,
                                str(genesis["chain_id"]))
        except (_Bad, PhrError) as exc:
            return VerifyReport(False, height - 1, height, str(exc))
        if progress is not None:
            progress(height, top)
    if state is not None and state.version() >= 0:
        assert isinstance(replica.store, MemoryStateStore)
        where = first_difference(state, replica.store, lowest)
        if where is None and lowest > 0:
            try:  # the rows a pruned store kept from below: its values make the root
                check_latest_state(state, replica.store.root(state.version()))
            except StateIntegrityError as exc:
                where = f"its values at height {state.version()}: {exc}"
        if where is not None:
            return VerifyReport(False, top, state.version(),
                                f"the state database differs from the replay ({where}): "
                                "it was altered; move it away and let the node rebuild "
                                "it from its blocks")
    return VerifyReport(True, top, None, f"{top} block(s) verified from genesis")


def _check_block(height: int, prev: SignedHeader | None, blocks: SqliteBlockStore,
                 replica: Application, validator_key: bytes, state: SqliteStateStore | None,
                 chain_id: str) -> SignedHeader:
    signed = blocks.header(height)
    if signed is None:
        raise _Bad("block missing")
    h = signed.header
    if h.height != height or h.chain_id != chain_id:
        raise _Bad(f"header says height {h.height} on chain {h.chain_id!r}")
    expected_prev = GENESIS_PREV_HASH if prev is None else prev.header.hash()
    if h.prev_hash != expected_prev:
        raise _Bad("prev_hash does not link to the previous header")
    if prev is not None and h.time_ms <= prev.header.time_ms:
        raise _Bad("block time does not increase")
    try:
        signed.verify(validator_key)
    except CryptoError as exc:
        raise _Bad(f"proposer signature: {exc}") from None
    if blocks.block_hash(height) != h.hash():
        raise _Bad("the block store's hash column does not match the header")
    stored = blocks.txs(height)
    raws = [t.raw for t in stored]
    if len(raws) != h.num_txs or tx_root(raws) != h.tx_root:
        raise _Bad("tx_root or num_txs does not match the stored txs")
    result = replica.finalize_block(BlockInfo(height, h.time_ms), raws)
    replica.commit()
    if result.app_hash != h.app_hash:
        raise _Bad(f"replay gives app hash {result.app_hash.hex()}, header has "
                   f"{h.app_hash.hex()}")
    if result.results_root != h.results_root:
        raise _Bad("replayed tx results differ from the header's results_root")
    replayed = [r.consensus_json() for r in result.tx_results]
    if replayed != [{k: v for k, v in t.result.items() if k != "log"} for t in stored]:
        raise _Bad("stored tx results differ from the replayed ones")
    if any(t.hash.hex() != r["hash"] for t, r in zip(stored, replayed, strict=True)):
        raise _Bad("the block store's tx hash column does not match the tx it indexes")
    if state is not None and state.lowest_version() <= height <= state.version() \
            and state.root(height) != h.app_hash:
        raise _Bad("the node's state store records a different app hash")
    return signed
