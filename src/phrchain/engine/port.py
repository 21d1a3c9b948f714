"""What the REST API needs from a node, written down: :class:`NodePort`.

The API (``phrchain.api``) depends on this Protocol only; each engine implements it —
the embedded solo node (:class:`phrchain.engine.solo.node.SoloNode`) and the adapter over
a CometBFT validator's RPC (:class:`phrchain.engine.abci.remote.CometNode`). An engine
that cannot serve a part of it raises :class:`NotServed`, which the API answers as
``404 api/2 not_found``; a node that can no longer commit refuses txs with
:class:`NodeStopped` (``503 api/7``); engines never raise the API's HTTP errors.

Answers are the API's JSON shapes (``docs/api.md``): ``tx_status`` gives ``{"status":
"committed"|"pending"|"dropped"|"unknown", ...}``, ``query`` gives ``{"height",
"value", "proof"?}``, ``status`` gives ``chain_id, height, app_hash, validator,
mempool_txs, healthy``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from phrchain.app import TxResult
from phrchain.core.block import SignedHeader
from phrchain.core.errors import PhrError
from phrchain.engine.events import Subscription


class NotServed(PhrError):
    """This engine does not serve that part of the node interface (e.g. a CometBFT
    network has no solo-engine signed headers); the message says where to look instead."""


class NodeStopped(PhrError):
    """The node can no longer commit blocks (its block production failed, e.g. on a full
    disk): nothing was admitted. The API answers ``503 api/7 node_stopped``."""


class CommittedTx(Protocol):
    """One tx of a committed block as the API serves it."""

    @property
    def raw(self) -> bytes: ...

    @property
    def result(self) -> dict[str, Any]: ...


class NodePort(Protocol):
    """The node surface the REST API is written against."""

    # -- lifecycle (``phrchain.api.server.serve`` starts and closes the node) ----------
    def start(self) -> None: ...

    def close(self) -> None: ...

    # -- txs --------------------------------------------------------------------------
    def submit(self, raw: bytes) -> TxResult:
        """Check a signed tx; if it passes, it is queued for a block."""
        ...

    def tx_status(self, tx_hash: bytes) -> dict[str, Any]: ...

    def wait_committed(self, tx_hash: bytes, timeout: float) -> dict[str, Any]:
        """The tx's status once it is no longer pending, or ``{"status": "pending"}``
        after ``timeout`` seconds."""
        ...

    # -- reads ------------------------------------------------------------------------
    def query(self, path: str, data: dict[str, Any], height: int | None = None,
              prove: bool = False) -> dict[str, Any]: ...

    def header(self, height: int | None = None) -> SignedHeader | None:
        """The signed header at ``height`` (latest if None), None if not produced yet;
        :class:`NotServed` if the engine has no such headers."""
        ...

    def block(self, height: int) -> tuple[SignedHeader, Sequence[CommittedTx]] | None:
        """A committed block's signed header and txs; None if not committed yet;
        :class:`NotServed` if the engine has no such blocks."""
        ...

    def block_results(self, height: int) -> list[dict[str, Any]] | None:
        """The tx results of a committed block (``TxResult.to_json`` shapes, events
        included), None if not committed yet. Every engine serves these: a vault follows
        erasures through them."""
        ...

    def status(self) -> dict[str, Any]: ...

    # -- events (see phrchain.engine.events for delivery and slow subscribers) --------
    def subscribe(self) -> Subscription: ...

    def is_subscribed(self, subscription: Subscription) -> bool: ...

    def unsubscribe(self, subscription: Subscription) -> None: ...
