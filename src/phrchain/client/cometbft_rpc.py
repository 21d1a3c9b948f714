"""A small synchronous client for a CometBFT v0.38 node's JSON-RPC (URI over HTTP GET).

Used by the network tooling, the light client (``lightclient_cometbft``), tests and the
benchmark. It only fetches and decodes; whatever it returns is *untrusted* until the
light client has checked it. Errors are :class:`RpcError`.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any, Final

import httpx

from phrchain.core.errors import PhrError

__all__ = ["CometRpc", "RpcError"]

DEFAULT_TIMEOUT: Final = 10.0


class RpcError(PhrError):
    """The node could not be reached or answered with a JSON-RPC error."""


class CometRpc:
    """One CometBFT node's RPC endpoint, e.g. ``http://127.0.0.1:26657``."""

    def __init__(self, url: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.Client(base_url=self.url, timeout=timeout)

    def __enter__(self) -> CometRpc:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def call(self, method: str, **params: Any) -> Any:
        args = {k: _param(v) for k, v in params.items() if v is not None}
        try:
            response = self._http.get(f"/{method}", params=args)
        except httpx.HTTPError as exc:
            raise RpcError(f"{self.url}/{method}: {type(exc).__name__}: {exc}") from None
        try:
            body = response.json()
        except json.JSONDecodeError:
            raise RpcError(f"{self.url}/{method}: HTTP {response.status_code}, "
                           "not JSON") from None
        if "error" in body:
            error = body["error"]
            raise RpcError(f"{method}: {error.get('message')} {error.get('data', '')}".strip())
        return body["result"]

    # -- the calls phrchain uses ------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        result: dict[str, Any] = self.call("status")
        return result

    def height(self) -> int:
        return int(self.status()["sync_info"]["latest_block_height"])

    def broadcast_tx_sync(self, raw: bytes) -> dict[str, Any]:
        """Submit a tx; the answer is its ``CheckTx`` result (code 0: in the mempool)."""
        result: dict[str, Any] = self.call("broadcast_tx_sync", tx=raw)
        return result

    def tx(self, tx_hash: bytes) -> dict[str, Any] | None:
        """The committed tx with its result, or ``None`` if this node has not indexed it."""
        try:
            result: dict[str, Any] = self.call("tx", hash=tx_hash)
        except RpcError as exc:
            if "not found" in str(exc):
                return None
            raise
        return result

    def tx_search(self, query: str, per_page: int = 100) -> list[dict[str, Any]]:
        result = self.call("tx_search", query=json.dumps(query), per_page=per_page)
        txs: list[dict[str, Any]] = result["txs"]
        return txs

    def block(self, height: int) -> dict[str, Any]:
        result: dict[str, Any] = self.call("block", height=height)
        return result

    def block_txs(self, height: int) -> list[bytes]:
        txs = self.block(height)["block"]["data"]["txs"] or []
        return [base64.b64decode(t) for t in txs]

    def block_results(self, height: int) -> dict[str, Any]:
        result: dict[str, Any] = self.call("block_results", height=height)
        return result

    def commit(self, height: int) -> dict[str, Any]:
        """``{"signed_header": {"header", "commit"}, "canonical"}`` of ``height``."""
        result: dict[str, Any] = self.call("commit", height=height)
        return result

    def validators(self, height: int) -> list[dict[str, Any]]:
        result = self.call("validators", height=height, per_page=100)
        validators: list[dict[str, Any]] = result["validators"]
        return validators

    def genesis(self) -> dict[str, Any]:
        result: dict[str, Any] = self.call("genesis")["genesis"]
        return result

    def net_info(self) -> dict[str, Any]:
        result: dict[str, Any] = self.call("net_info")
        return result

    def abci_query(self, path: str, data: Mapping[str, Any], height: int | None = None,
                   prove: bool = False) -> dict[str, Any]:
        """An app query (``Application.query``): the decoded JSON answer. A refused query
        raises :class:`RpcError` naming its stable code."""
        payload = json.dumps(dict(data), sort_keys=True, separators=(",", ":")).encode()
        result = self.call("abci_query", path=json.dumps(path), data=payload,
                           height=height or None, prove="true" if prove else "false")
        response = result["response"]
        if response.get("code"):
            raise RpcError(f"query {path}: [{response.get('codespace')}/{response['code']}] "
                           f"{response.get('log', '')}")
        answer: dict[str, Any] = json.loads(base64.b64decode(response["value"]))
        return answer


def _param(value: Any) -> str:
    """URI-style JSON-RPC arguments: bytes as 0x-hex, everything else as given."""
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    return str(value)
