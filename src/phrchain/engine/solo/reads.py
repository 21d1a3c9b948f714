"""The solo node's reads and block events (a mixin of
:class:`~phrchain.engine.solo.node.SoloNode`): committed headers, blocks and their
results, queries, status, and subscriptions to whole committed blocks."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from phrchain.app import Application
from phrchain.core import keys
from phrchain.core.block import SignedHeader
from phrchain.engine.events import EventHub, Subscription
from phrchain.engine.solo.mempool import Mempool
from phrchain.storage.blocks import SqliteBlockStore, StoredTx
from phrchain.storage.sqlite_state import SqliteStateStore


class Reads:
    """What the node answers about committed blocks and state; the node's state it uses
    is declared here and set up by ``SoloNode.__init__``."""

    app: Application
    state: SqliteStateStore
    blocks: SqliteBlockStore
    mempool: Mempool
    key: keys.SigningKey
    events: EventHub
    _lock: threading.RLock
    _last_header: SignedHeader | None

    if TYPE_CHECKING:
        @property
        def healthy(self) -> bool: ...

    # -- events (phrchain.engine.events: whole blocks, slow subscribers cut off) ------
    def subscribe(self) -> Subscription:
        return self.events.subscribe()

    def is_subscribed(self, subscription: Subscription) -> bool:
        """False once the node has cut off a subscriber that fell too far behind."""
        return self.events.is_subscribed(subscription)

    def unsubscribe(self, subscription: Subscription) -> None:
        self.events.unsubscribe(subscription)

    def _publish(self, signed: SignedHeader, results: list[dict[str, Any]]) -> None:
        if not self.events.active:
            return
        items: list[dict[str, Any]] = [{"kind": "block", "height": signed.header.height,
                                        "hash": signed.header.hash().hex(),
                                        "num_txs": signed.header.num_txs,
                                        "app_hash": signed.header.app_hash.hex()}]
        items += [{"kind": "tx", "height": signed.header.height, **r} for r in results]
        self.events.publish(items)

    # -- reads --------------------------------------------------------------------------
    def header(self, height: int | None = None) -> SignedHeader | None:
        with self._lock:
            if height is None:
                return self._last_header
            return self.blocks.header(height)

    def block(self, height: int) -> tuple[SignedHeader, list[StoredTx]] | None:
        """A committed block's signed header and its txs with their results."""
        signed = self.blocks.header(height)
        if signed is None or height > self.state.version():
            return None  # stored but its state not yet committed: not visible yet
        return signed, self.blocks.txs(height)

    def block_results(self, height: int) -> list[dict[str, Any]] | None:
        block = self.block(height)
        return None if block is None else [t.result for t in block[1]]

    def query(self, path: str, data: dict[str, Any], height: int | None = None,
              prove: bool = False) -> dict[str, Any]:
        """Queries read committed versions only (bounded by height in the store), so they
        run without the node lock and never stall block production."""
        return self.app.query(path, data, height, prove)

    def status(self) -> dict[str, Any]:
        with self._lock:
            info = self.app.info()
            return {"chain_id": info.chain_id, "height": info.height,
                    "app_hash": info.app_hash.hex(), "validator": self.key.did,
                    "mempool_txs": len(self.mempool), "healthy": self.healthy}
