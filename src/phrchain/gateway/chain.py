"""How a vault talks to its own node: read decisions and identities, submit txs.

Two implementations of one small protocol: :class:`LocalChain` (the vault runs in the
node's process, the embedded default) and :class:`RemoteChain` (over the node's REST
API, any engine).

The erasure follower (:mod:`phrchain.gateway.erasures`) reads committed blocks' results
through :meth:`ChainPort.height` and :meth:`ChainPort.block_results`; an engine whose
API serves no block results (an older node API) raises :class:`NoBlocks`.
"""

from __future__ import annotations

import http.client
import json
import ssl
import threading
import time
import urllib.request
import weakref
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final, Protocol
from urllib.parse import urlsplit

from phrchain.core.errors import PhrError

if TYPE_CHECKING:
    from phrchain.client.http import NodeClient
    from phrchain.engine.solo.node import SoloNode
    from phrchain.tls import ClientTLS


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


class HeightProbe:
    """``GET /v1/status`` for the height alone, over kept-alive standard-library
    connections (a few idle ones pooled): the decision index asks it on every access (a
    fresh answer, so a consent revoked on chain binds the next request), and a request
    through httpx cost the vault ~0.5 ms of CPU more than this and the node ~0.4 ms more
    (measured, docs/performance.md). Same URL and TLS settings as :class:`NodeClient`'s
    defaults (``tls``, else the environment's: :class:`~phrchain.tls.ClientTLS`); not
    used where a proxy is configured for the node's URL (:meth:`for_url` gives None).
    :meth:`close` (or the probe's garbage collection) closes the idle connections."""

    IDLE: Final = 8

    def __init__(self, base_url: str, timeout: float, context: ssl.SSLContext | None
                 ) -> None:
        url = urlsplit(base_url)
        self.https = url.scheme == "https"
        self.host, self.port = url.hostname or "127.0.0.1", url.port
        self.path = url.path.rstrip("/") + "/v1/status"
        self.timeout, self.context = timeout, context
        self._lock = threading.Lock()
        self._idle: list[http.client.HTTPConnection] = []
        weakref.finalize(self, _close_all, self._idle)

    @classmethod
    def for_url(cls, base_url: str, timeout: float = 10.0,
                tls: ClientTLS | None = None) -> HeightProbe | None:
        from phrchain.client.http import client_verify

        url = urlsplit(base_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            return None
        if urllib.request.getproxies().get(url.scheme) \
                and not urllib.request.proxy_bypass(url.hostname):
            return None
        context = None
        if url.scheme == "https":
            verify = client_verify(tls)
            context = verify if isinstance(verify, ssl.SSLContext) else \
                ssl.create_default_context()
        return cls(base_url, timeout, context)

    def _connect(self) -> http.client.HTTPConnection:
        if self.https:
            return http.client.HTTPSConnection(self.host, self.port, timeout=self.timeout,
                                               context=self.context)
        return http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)

    def height(self) -> int | None:
        """The node's height; None when the node answered anything but 200 (ask it
        through :class:`NodeClient`, which reports its error); ``OSError`` when it
        cannot be reached (a kept-alive connection the server closed is retried once)."""
        with self._lock:
            conn = self._idle.pop() if self._idle else None
        for fresh in (conn is None, True):
            live = conn or self._connect()
            try:
                live.request("GET", self.path, headers={"Accept": "application/json"})
                answer = live.getresponse()
                body = answer.read()
                break
            except (OSError, http.client.HTTPException):
                live.close()
                conn = None
                if fresh:
                    raise OSError(f"cannot reach the node at {self.host}") from None
        with self._lock:
            keep = len(self._idle) < self.IDLE
            if keep:
                self._idle.append(live)
        if not keep:
            live.close()
        if answer.status != 200:
            return None
        return int(json.loads(body)["height"])

    def close(self) -> None:
        with self._lock:
            _close_all(self._idle)


def _close_all(connections: list[http.client.HTTPConnection]) -> None:
    while connections:
        connections.pop().close()


class RemoteChain:
    def __init__(self, client: NodeClient, probe: HeightProbe | bool | None = True) -> None:
        """``probe``: how :meth:`height` asks (True: a :class:`HeightProbe` for the
        client's URL where one can be used; None/False: through ``client``)."""
        self.client = client
        self._chain_id: str | None = None
        self.probe = HeightProbe.for_url(client.base_url) if probe is True else \
            (probe or None)

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

    def submit_and_wait(self, raw: bytes, timeout: float
                        ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """:meth:`submit` and :meth:`wait` in one request: the node answers when the tx
        has committed (its API's ``wait="commit"``; polled on after the API's own
        timeout). ``(check, status)``; ``status`` None when the check refused it."""
        from phrchain.client.http import ApiError
        from phrchain.core.tx import tx_hash

        start = time.monotonic()
        try:
            answer = self.client.submit(raw, wait="commit")
        except ApiError as exc:
            if exc.status == 0:
                raise
            return {"hash": tx_hash(raw).hex(), "code": exc.code,
                    "codespace": exc.codespace, "log": exc.message}, None
        check = {"code": 0, "codespace": "", "log": "", **answer}
        if answer.get("status") in ("committed", "dropped"):
            return check, answer
        return check, self.wait(answer["hash"], max(0.0, timeout - time.monotonic() + start))

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

    def close(self) -> None:
        """Close the height probe's idle connections (the client is its owner's)."""
        if self.probe is not None:
            self.probe.close()

    def height(self) -> int:
        if self.probe is not None:
            from phrchain.client.http import ApiError

            try:
                found = self.probe.height()
            except OSError as exc:
                raise ApiError(0, "client", 1, "unreachable", str(exc)) from None
            if found is not None:
                return found
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
