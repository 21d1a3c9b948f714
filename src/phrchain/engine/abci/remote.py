"""The node interface the REST API needs (:class:`phrchain.engine.port.NodePort`),
served from one validator's CometBFT RPC instead of an in-process solo node.

So the same API, SDK (``NodeClient``) and CLI work against a CometBFT network: submit
(``broadcast_tx_sync``, i.e. ``CheckTx``), tx status (CometBFT's tx index), queries with
proofs (``abci_query``), status, and the event stream (new blocks and their tx results,
polled from the RPC). What does not carry over: the solo engine's *signed headers and
blocks* (``/v1/headers``, ``/v1/blocks``) — CometBFT headers are a different, multi-
signature format; read them from the RPC (``/commit``) and check them with
``phrchain.client.lightclient_cometbft``. Those raise :class:`NotServed` here (the API
answers 404).
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import threading
import time
from typing import TYPE_CHECKING, Any, Final

from phrchain.app import TxResult
from phrchain.client.cometbft_rpc import CometRpc, RpcError
from phrchain.core.block import SignedHeader
from phrchain.core.errors import REGISTRY, ErrorCode, TxError
from phrchain.engine.events import EventHub, Subscription
from phrchain.engine.port import CommittedTx, NotServed

log = logging.getLogger(__name__)

_POLL_S: Final = 0.2
_NO_SOLO_HEADERS: Final = ("a CometBFT network has no solo-engine headers or blocks: read "
                           "/commit and /block from the validator's RPC and check them "
                           "with phrchain.client.lightclient_cometbft")
_RPC_UNAVAILABLE: Final = ErrorCode("node", 1, "rpc_unavailable",
                                    "the CometBFT node's RPC did not answer")


def _result_json(tx_hash: str, result: dict[str, Any]) -> dict[str, Any]:
    """A CometBFT ExecTxResult as the API's tx result (``TxResult.to_json`` fields)."""
    return {"hash": tx_hash, "code": int(result.get("code", 0)),
            "codespace": result.get("codespace", ""), "log": result.get("log", ""),
            "events": [{"type": e["type"], "attributes": [[a["key"], a["value"]]
                                                          for a in e.get("attributes", [])]}
                       for e in result.get("events") or []]}


class CometNode:
    """A :class:`~phrchain.engine.port.NodePort` over one validator's RPC."""

    def __init__(self, rpc_url: str, timeout: float = 10.0) -> None:
        self.rpc_url = rpc_url
        self._local = threading.local()  # one HTTP client per API worker thread
        self._timeout = timeout
        self._lock = threading.Lock()
        self.events = EventHub()
        self._stop = threading.Event()
        self._poller: threading.Thread | None = None
        self._clients: list[CometRpc] = []

    @property
    def rpc(self) -> CometRpc:
        client = getattr(self._local, "rpc", None)
        if client is None:
            client = self._local.rpc = CometRpc(self.rpc_url, self._timeout)
            with self._lock:
                self._clients.append(client)
        return client

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        try:
            return getattr(self.rpc, method)(*args, **kwargs)
        except RpcError as exc:
            raise _RPC_UNAVAILABLE(str(exc)) from None

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        """Nothing to start: the validator runs on its own (``phrchain net up``)."""

    def close(self) -> None:
        self._stop.set()
        if self._poller is not None:
            self._poller.join(timeout=5)
        with self._lock:
            clients, self._clients = self._clients, []
        for client in clients:
            client.close()

    @property
    def healthy(self) -> bool:
        try:
            self.rpc.status()
        except RpcError:
            return False
        return True

    # -- txs ------------------------------------------------------------------------------
    def submit(self, raw: bytes) -> TxResult:
        answer = self._call("broadcast_tx_sync", raw)
        return TxResult(hashlib.sha256(raw).digest(), int(answer["code"]),
                        answer.get("codespace", ""), answer.get("log", ""))

    def tx_status(self, tx_hash: bytes) -> dict[str, Any]:
        found = self._call("tx", tx_hash)
        if found is None:
            return {"status": "unknown"}
        return {"status": "committed", "height": int(found["height"]),
                "index": int(found["index"]),
                "result": _result_json(tx_hash.hex(), found["tx_result"])}

    def wait_committed(self, tx_hash: bytes, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            status = self.tx_status(tx_hash)
            if status["status"] == "committed" or time.monotonic() >= deadline:
                return status if status["status"] == "committed" else {"status": "pending"}
            time.sleep(0.1)

    # -- reads ----------------------------------------------------------------------------
    def query(self, path: str, data: dict[str, Any], height: int | None = None,
              prove: bool = False) -> dict[str, Any]:
        payload = json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
        result = self._call("call", "abci_query", path=json.dumps(path), data=payload,
                            height=height or None, prove="true" if prove else "false")
        response = result["response"]
        if response.get("code"):
            known = REGISTRY.get((response.get("codespace", ""), int(response["code"])))
            if known is None:
                raise _RPC_UNAVAILABLE(response.get("log", "query failed"))
            raise TxError(known, response.get("log", ""))
        answer: dict[str, Any] = json.loads(base64.b64decode(response["value"]))
        return answer

    def header(self, height: int | None = None) -> SignedHeader | None:
        raise NotServed(_NO_SOLO_HEADERS)

    def block(self, height: int) -> tuple[SignedHeader, list[CommittedTx]] | None:
        raise NotServed(_NO_SOLO_HEADERS)

    def block_results(self, height: int) -> list[dict[str, Any]] | None:
        """From the validator's RPC: each tx's hash is the SHA-256 of its bytes, its
        result CometBFT's stored ExecTxResult."""
        if height > int(self._call("height")):
            return None
        txs = self._call("block_txs", height)
        results = self._call("block_results", height).get("txs_results") or []
        return [_result_json(hashlib.sha256(raw).hexdigest(), result)
                for raw, result in zip(txs, results, strict=True)]

    def status(self) -> dict[str, Any]:
        status = self._call("status")
        unconfirmed = self._call("call", "num_unconfirmed_txs")
        return {"chain_id": status["node_info"]["network"],
                "height": int(status["sync_info"]["latest_block_height"]),
                "app_hash": status["sync_info"]["latest_app_hash"].lower(),
                "validator": status["validator_info"]["address"],
                "mempool_txs": int(unconfirmed["total"]),
                "healthy": not status["sync_info"]["catching_up"]}

    # -- events ---------------------------------------------------------------------------
    def subscribe(self) -> Subscription:
        """Subscribing starts the poller that turns new blocks into events."""
        subscription = self.events.subscribe()
        with self._lock:
            if self._poller is None:
                self._poller = threading.Thread(target=self._poll, name="comet-events",
                                                daemon=True)
                self._poller.start()
        return subscription

    def is_subscribed(self, subscription: Subscription) -> bool:
        return self.events.is_subscribed(subscription)

    def unsubscribe(self, subscription: Subscription) -> None:
        self.events.unsubscribe(subscription)

    def _poll(self) -> None:
        rpc = CometRpc(self.rpc_url, self._timeout)
        try:
            height = rpc.height()
            while not self._stop.wait(_POLL_S):
                try:
                    while rpc.height() > height:
                        height += 1
                        self._publish(rpc, height)
                except RpcError as exc:
                    log.warning("event poller: %s", exc)
        finally:
            rpc.close()

    def _publish(self, rpc: CometRpc, height: int) -> None:
        block = rpc.block(height)
        results = rpc.block_results(height).get("txs_results") or []
        txs = block["block"]["data"]["txs"] or []
        items: list[dict[str, Any]] = [{
            "kind": "block", "height": height, "hash": block["block_id"]["hash"].lower(),
            "num_txs": len(txs), "app_hash": block["block"]["header"]["app_hash"].lower()}]
        for tx, result in zip(txs, results, strict=True):
            tx_hash = hashlib.sha256(base64.b64decode(tx)).hexdigest()
            items.append({"kind": "tx", "height": height, **_result_json(tx_hash, result)})
        self.events.publish(items)


if TYPE_CHECKING:
    from phrchain.engine.port import NodePort

    def _implements_node_port(node: CometNode) -> NodePort:
        return node  # mypy checks CometNode against the Protocol here
