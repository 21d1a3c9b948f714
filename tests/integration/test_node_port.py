"""The written node interface: both engines implement ``NodePort`` (mypy checks it in
each engine's module; here its members and signatures, and every method on a live solo
node), and ``NotServed`` reaches API clients as the 404 the API has always given."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from phrchain.api.server import BackgroundServer, create_app
from phrchain.core.tx import build_tx, tx_hash
from phrchain.engine.abci.remote import CometNode
from phrchain.engine.port import NodePort, NotServed
from phrchain.engine.solo.home import NodeConfig, init_home
from phrchain.engine.solo.node import SoloNode
from tests.helpers import CHAIN_ID, VALIDATOR, enc_key, genesis, signing_key

PORT_METHODS = sorted(name for name, member in vars(NodePort).items()
                      if inspect.isfunction(member) and not name.startswith("_"))
# What the API server said before NotServed existed (the adapter raised its HttpError).
NO_SOLO_HEADERS_BODY = {"error": {
    "codespace": "api", "code": 2, "name": "not_found",
    "message": "no such resource: a CometBFT network has no solo-engine headers or blocks: "
               "read /commit and /block from the validator's RPC and check them with "
               "phrchain.client.lightclient_cometbft"}}


def test_the_port_lists_what_the_api_needs() -> None:
    assert PORT_METHODS == sorted([
        "start", "close", "submit", "tx_status", "wait_committed", "query", "header",
        "block", "block_results", "status", "subscribe", "is_subscribed", "unsubscribe"])


@pytest.mark.parametrize("engine", [SoloNode, CometNode])
def test_each_engine_has_every_port_method_with_its_parameters(engine: type) -> None:
    for name in PORT_METHODS:
        implemented = getattr(engine, name)
        assert list(inspect.signature(implemented).parameters) == \
            list(inspect.signature(getattr(NodePort, name)).parameters), name


@pytest.fixture
def solo(tmp_path: Path) -> Iterator[SoloNode]:
    init_home(tmp_path / "node", genesis(), VALIDATOR.seed, NodeConfig(block_interval_ms=10))
    node = SoloNode(tmp_path / "node")
    yield node
    node.close()


def test_the_solo_node_serves_the_whole_port(solo: SoloNode) -> None:
    port: NodePort = solo
    port.start()
    subscription = port.subscribe()
    assert port.is_subscribed(subscription)
    assert port.header() is None and port.block(1) is None
    refused = port.submit(b"not a tx")
    assert not refused.ok and port.tx_status(refused.hash) == {"status": "unknown"}
    patient = signing_key(500)
    raw = build_tx(patient, CHAIN_ID, 1,
                   [{"type": "identity/register_patient", "enc_key": enc_key(500)}])
    assert port.submit(raw).ok
    committed = port.wait_committed(tx_hash(raw), timeout=10)
    assert committed["status"] == "committed" and committed["result"]["code"] == 0
    assert port.tx_status(tx_hash(raw)) == committed
    height = committed["height"]
    signed = port.header(height)
    assert signed is not None and signed == port.header()
    block = port.block(height)
    assert block is not None and block[0] == signed and [t.raw for t in block[1]] == [raw]
    assert port.block_results(height) == [committed["result"]]
    assert port.block_results(height + 1000) is None
    answer = port.query("identity/did", {"did": patient.did}, height, prove=True)
    assert answer["value"]["did"] == patient.did and "proof" in answer
    status = port.status()
    assert (status["height"], status["app_hash"]) == (height, signed.header.app_hash.hex())
    kinds = [subscription.get(timeout=5)["kind"] for _ in range(2)]
    assert kinds == ["block", "tx"]
    port.unsubscribe(subscription)
    assert not port.is_subscribed(subscription)
    port.close()


def test_the_comet_adapter_raises_not_served_not_an_http_error() -> None:
    node = CometNode("http://127.0.0.1:9")  # never contacted: these fail before any call
    with pytest.raises(NotServed, match="lightclient_cometbft"):
        node.header()
    with pytest.raises(NotServed, match="lightclient_cometbft"):
        node.block(1)
    node.close()


@pytest.mark.parametrize("route", ["/v1/headers/latest", "/v1/headers/3", "/v1/blocks/3"])
def test_not_served_answers_as_the_api_always_did(route: str) -> None:
    node = CometNode("http://127.0.0.1:9")
    with BackgroundServer(create_app(node)) as url:
        response = httpx.get(f"{url}{route}")
    node.close()
    assert response.status_code == 404 and response.json() == NO_SOLO_HEADERS_BODY


class _Refusing:
    """A port whose every read is NotServed (not the generic PhrError → 400 mapping)."""

    def query(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        raise NotServed("no queries here")


def test_not_served_from_any_route_is_404_not_found() -> None:
    with BackgroundServer(create_app(_Refusing())) as url:  # type: ignore[arg-type]
        response = httpx.get(f"{url}/v1/query/identity/did", params={"did": "x"})
    assert response.status_code == 404
    assert response.json() == {"error": {"codespace": "api", "code": 2, "name": "not_found",
                                         "message": "no such resource: no queries here"}}
