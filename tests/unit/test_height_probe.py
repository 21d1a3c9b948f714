"""``RemoteChain.height`` through :class:`HeightProbe` (kept-alive standard-library
connections to the node's ``GET /v1/status``) against a real loopback server: the same
answers as ``NodeClient``, one connection reused, a dropped connection retried once, a
refusal reported through ``NodeClient``, an unreachable node as ``client/1``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from phrchain.api.server import BackgroundServer
from phrchain.client.http import ApiError, NodeClient
from phrchain.gateway.chain import HeightProbe, RemoteChain


class Node:
    def __init__(self) -> None:
        self.height, self.healthy, self.peers = 7, True, set[int]()
        self.app = FastAPI()

        @self.app.get("/v1/status")
        def status(request: Request) -> Any:
            assert request.client is not None
            self.peers.add(request.client.port)
            if not self.healthy:
                return JSONResponse({"error": {"codespace": "api", "code": 7,
                                               "name": "node_stopped", "message": "x"}},
                                    status_code=503)
            return {"chain_id": "c", "height": self.height}


@pytest.fixture()
def node() -> Iterator[tuple[Node, str]]:
    n = Node()
    with BackgroundServer(n.app) as url:
        yield n, url


def test_the_probe_answers_as_the_node_client_over_one_kept_alive_connection(
        node: tuple[Node, str]) -> None:
    n, url = node
    with NodeClient(url) as client:
        chain = RemoteChain(client)
        assert chain.probe is not None
        assert chain.height() == 7 == client.status()["height"]
        n.height = 8
        assert chain.height() == 8
        assert len(n.peers) == 2  # the probe's one connection, and the client's
        chain.close()
        assert not chain.probe._idle


def test_a_dropped_connection_is_retried_once(node: tuple[Node, str]) -> None:
    _, url = node
    probe = HeightProbe.for_url(url)
    assert probe is not None and probe.height() == 7
    kept = probe._idle[0]
    assert kept.sock is not None
    kept.sock.close()  # as if the server had closed the idle connection
    assert probe.height() == 7
    probe.close()


def test_a_refusal_is_reported_through_the_node_client(node: tuple[Node, str]) -> None:
    n, url = node
    n.healthy = False
    with NodeClient(url) as client:
        chain = RemoteChain(client)
        with pytest.raises(ApiError) as refused:
            chain.height()
        assert (refused.value.status, refused.value.code) == (503, 7)
        chain.close()


def test_an_unreachable_node_is_a_client_error() -> None:
    with NodeClient("http://127.0.0.1:9") as client:
        chain = RemoteChain(client)
        with pytest.raises(ApiError) as unreachable:
            chain.height()
        assert (unreachable.value.status, unreachable.value.codespace) == (0, "client")


def test_no_probe_behind_a_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("http_proxy", "http://proxy.invalid:3128")
    assert HeightProbe.for_url("http://node.example:8645") is None
    with NodeClient("http://node.example:8645") as client:
        assert RemoteChain(client).probe is None
    assert HeightProbe.for_url("ftp://node.example") is None
