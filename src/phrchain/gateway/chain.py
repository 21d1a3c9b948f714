"""How a vault talks to its own node: read decisions and identities, submit txs.

Two implementations of one small protocol: :class:`LocalChain` (the vault runs in the
node's process, the embedded default) and :class:`RemoteChain` (over the node's REST
API, any engine).

The erasure follower (:mod:`phrchain.gateway.erasures`) reads committed blocks' results
through :meth:`ChainPort.height` and :meth:`ChainPort.block_results`; an engine whose
API serves no block results (an older node API) raises :class:`NoBlocks`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

from phrchain.core.errors import PhrError

if TYPE_CHECKING:
    from phrchain.client.http import NodeClient
    from phrchain.engine.solo.node import SoloNode


class NoBlocks(PhrError):
    """The node's API serves no blocks (``404 api/2``): erasures cannot be followed by
    height there."""


class ChainPort(Protocol):
    @property
    def chain_id(self) -> str: ...

    def query(self, path: str, data: Mapping[str, Any]) -> Any:
        """The ``value`` of a query at the latest committed height."""

    def submit(self, raw: bytes) -> dict[str, Any]:
        """Submit a signed tx; ``{"code", "codespace", "log", "hash"}`` of its check."""

    def wait(self, tx_hash: str, timeout: float) -> dict[str, Any]:
        """``{"status": "committed", "result": {...}}`` or another status on timeout."""

    def next_nonce(self, did: str) -> int: ...

    def height(self) -> int:
        """The latest committed height (0 before the first block)."""

    def block_results(self, height: int) -> list[dict[str, Any]] | None:
        """The tx results (``{"code", "codespace", "events", ...}``) of the block at
        ``height``, None if it is not committed; :class:`NoBlocks` if none are served."""


class LocalChain:
    def __init__(self, node: SoloNode) -> None:
        self.node = node

    @property
    def chain_id(self) -> str:
        return self.node.app.chain_id

    def query(self, path: str, data: Mapping[str, Any]) -> Any:
        return self.node.query(path, dict(data))["value"]

    def submit(self, raw: bytes) -> dict[str, Any]:
        return self.node.submit(raw).to_json()

    def wait(self, tx_hash: str, timeout: float) -> dict[str, Any]:
        return self.node.wait_committed(bytes.fromhex(tx_hash), timeout)

    def next_nonce(self, did: str) -> int:
        return int(self.query("identity/nonce", {"did": did})["last_nonce"]) + 1

    def height(self) -> int:
        # The store's committed version, as ``status()`` reports it, without the node's
        # lock (asked on every vault access by the decision index).
        return int(self.node.app.store.version())

    def block_results(self, height: int) -> list[dict[str, Any]] | None:
        block = self.node.block(height)
        return None if block is None else [tx.result for tx in block[1]]


class RemoteChain:
    def __init__(self, client: NodeClient) -> None:
        self.client = client
        self._chain_id: str | None = None

    @property
    def chain_id(self) -> str:
        if self._chain_id is None:
            self._chain_id = self.client.chain_id()
        return self._chain_id

    def query(self, path: str, data: Mapping[str, Any]) -> Any:
        return self.client.query(path, {k: str(v) for k, v in data.items()})["value"]

    def submit(self, raw: bytes) -> dict[str, Any]:
        from phrchain.client.http import ApiError
        from phrchain.core.tx import tx_hash

        try:
            answer = self.client.submit(raw, wait="check")
        except ApiError as exc:  # refused at check: report it like a local check result
            if exc.status == 0:
                raise
            return {"hash": tx_hash(raw).hex(), "code": exc.code,
                    "codespace": exc.codespace, "log": exc.message}
        return {"code": 0, "codespace": "", "log": "", **answer}

    def wait(self, tx_hash: str, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            try:
                status = self.client.tx(tx_hash)
            except PhrError:
                status = {"status": "unknown"}
            if status.get("status") in ("committed", "dropped") \
                    or time.monotonic() > deadline:
                return status
            time.sleep(0.05)

    def next_nonce(self, did: str) -> int:
        return self.client.next_nonce(did)

    def height(self) -> int:
        return int(self.client.status()["height"])

    def block_results(self, height: int) -> list[dict[str, Any]] | None:
        from phrchain.client.http import ApiError

        try:
            return self.client.block_results(height)
        except ApiError as exc:
            if exc.status != 404:
                raise
            if self.height() < height:
                return None  # not committed yet
            raise NoBlocks(f"the node's API serves no results of block {height}: "
                           f"{exc.message}") from None
