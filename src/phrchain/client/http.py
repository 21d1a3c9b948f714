"""A small synchronous client for the node REST API (``phrchain.api.server``).

``NodeClient(base_url)`` talks to a node over HTTP. For tests, either point it at a
real server on loopback (``phrchain.api.server.BackgroundServer``) or hand it any
``httpx.BaseTransport`` / ready ``httpx.Client`` (e.g. ``starlette.testclient.TestClient``,
which is an ``httpx.Client``); ``httpx.ASGITransport`` is async-only and cannot be used.

Every non-2xx answer becomes :class:`ApiError` carrying the API's stable error body
(codespace, code, name, message); a node that cannot be reached is ``ApiError`` with
codespace ``client``.

``https://`` URLs are verified against ``tls.ca`` (else ``PHRCHAIN_CA``, else the system's
roots), presenting ``tls.cert`` when set (else ``PHRCHAIN_CLIENT_CERT``/``_KEY``):
:class:`~phrchain.tls.ClientTLS`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import quote

import httpx

from phrchain.client.errors import ApiError, Wait, raise_for_error
from phrchain.client.sender import TxSender
from phrchain.tls import ClientTLS

if TYPE_CHECKING:
    from phrchain.client.wallet import Wallet

__all__ = ["ApiError", "NodeClient", "Wait", "raise_for_error"]

DEFAULT_TIMEOUT: Final = 40.0  # above the server's 30 s commit wait


def client_verify(tls: ClientTLS | None) -> Any:
    """httpx's ``verify=`` for ``tls``, or for the environment's settings when None."""
    return (tls or ClientTLS.from_env()).verify()


class NodeClient:
    """One node's REST API. Use as a context manager, or call :meth:`close`."""

    def __init__(self, base_url: str, transport: httpx.BaseTransport | None = None,
                 timeout: float = DEFAULT_TIMEOUT, client: httpx.Client | None = None,
                 tls: ClientTLS | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = client or httpx.Client(base_url=self.base_url, transport=transport,
                                            timeout=timeout, verify=client_verify(tls))
        self._chain_id: str | None = None

    def __enter__(self) -> NodeClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # -- plumbing -----------------------------------------------------------------------
    def _request(self, method: str, url: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, url, **kwargs)
        except httpx.TransportError as exc:
            raise ApiError(0, "client", 1, "unreachable",
                           f"cannot reach the node at {self.base_url}: {exc}") from None
        return raise_for_error(response).json()

    # -- API ----------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        result: dict[str, Any] = self._request("GET", "/v1/status")
        return result

    def chain_id(self) -> str:
        if self._chain_id is None:
            self._chain_id = str(self.status()["chain_id"])
        return self._chain_id

    def submit(self, raw: bytes, wait: Wait = "commit") -> dict[str, Any]:
        """Submit signed tx bytes. A tx refused at check raises; a committed tx is
        returned whatever its result code (see ``result``)."""
        result: dict[str, Any] = self._request("POST", "/v1/txs",
                                               json={"tx": raw.hex(), "wait": wait})
        return result

    def tx(self, hash_hex: str) -> dict[str, Any]:
        result: dict[str, Any] = self._request("GET", f"/v1/txs/{hash_hex}")
        return result

    def query(self, path: str, data: Mapping[str, Any] | None = None,
              height: int | None = None, prove: bool = False) -> dict[str, Any]:
        result: dict[str, Any] = self._request("POST", "/v1/query", json={
            "path": path, "data": dict(data or {}), "height": height, "prove": prove})
        return result

    def header(self, height: int | None = None) -> dict[str, Any]:
        """The validator-signed header ``{"header", "signature"}`` (latest by default)."""
        url = "/v1/headers/latest" if height is None else f"/v1/headers/{int(height)}"
        result: dict[str, Any] = self._request("GET", url)
        return result

    def block(self, height: int) -> dict[str, Any]:
        result: dict[str, Any] = self._request("GET", f"/v1/blocks/{int(height)}")
        return result

    def block_results(self, height: int) -> list[dict[str, Any]]:
        """The tx results of a committed block (any engine); ApiError 404 if not yet."""
        answer: dict[str, Any] = self._request("GET", f"/v1/blocks/{int(height)}/results")
        return list(answer["results"])

    def identity(self, did: str) -> dict[str, Any]:
        """The proved answer for one identity (verify it with ``client.verify``)."""
        result: dict[str, Any] = self._request("GET", f"/v1/identities/{quote(did, safe=':')}")
        return result

    def identities(self, *, limit: int | None = None, after: str | None = None,
                   **by: str) -> dict[str, Any]:
        """One page of a list by exactly one of ``organization=``, ``role=`` or ``kind=``;
        ``value["next"]``, when not None, is the ``after`` of the following page.

        Asks ``identity/<organization|role|kind>`` through ``POST /v1/query``, which
        passes paging through (``GET /v1/identities`` answers the first page only)."""
        if len(by) != 1 or not set(by) <= {"organization", "role", "kind"}:
            raise ValueError("give exactly one of organization=, role=, kind=")
        (name, value), = by.items()
        data: dict[str, Any] = {name: value}
        if limit is not None:
            data["limit"] = limit
        if after is not None:
            data["after"] = after
        return self.query(f"identity/{name}", data)

    def next_nonce(self, did: str) -> int:
        answer = self.query("identity/nonce", {"did": did})
        return int(answer["value"]["last_nonce"]) + 1

    def send(self, wallet: Wallet, msgs: Sequence[Mapping[str, Any]],
             wait: Wait = "commit") -> dict[str, Any]:
        """Sign ``msgs`` with the wallet's next nonce and submit them: a one-off
        :class:`~phrchain.client.sender.TxSender` (the SDK's one send pipeline; keep a
        sender to send many txs for one wallet).

        Raises :class:`ApiError` if the tx is refused at check, or — with
        ``wait="commit"`` — if it was committed with a failing result or dropped."""

        return TxSender(self, wallet).send(msgs, wait)
