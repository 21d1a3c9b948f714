"""Consensus on the shared network: txs committed alike through every validator,
invalid txs refused, a proposal carrying an invalid tx rejected, and a validator killed
under load catching up with nothing lost."""

from __future__ import annotations

import secrets
import threading
import time

from phrchain.client.cometbft_rpc import RpcError
from phrchain.core import keys
from phrchain.engine.abci import abci_pb2 as pb
from phrchain.engine.abci.adapter import AbciApplication
from phrchain.engine.abci.net import Network
from phrchain.engine.abci.server import AbciServer
from tests.integration.cometbft_network.network import (
    MARKS,
    header_app_hashes,
    heights,
    patient_tx,
    tx_hash,
    wait_committed,
)

pytestmark = MARKS


def test_txs_through_different_validators_commit_with_one_app_hash(net: Network) -> None:
    txs = [patient_tx()[0] for _ in range(24)]
    for i, raw in enumerate(txs):
        with net.rpc(i % 4) as rpc:
            assert rpc.broadcast_tx_sync(raw)["code"] == 0
    committed = []
    for i, raw in enumerate(txs):
        with net.rpc((i + 1) % 4) as rpc:  # asked of another validator than it went to
            found = wait_committed(rpc, raw)
        assert found["tx_result"]["code"] == 0
        committed.append(int(found["height"]))
    top = max(committed) + 1
    net.wait_height(top, 20)
    reference = header_app_hashes(net, 0, top)
    for index in range(1, 4):
        assert header_app_hashes(net, index, top) == reference
    with net.rpc(2) as rpc:  # module events are CometBFT events: tx_search finds them
        found_by_event = rpc.tx_search(
            f"identity.registered.did EXISTS AND tx.height={committed[0]}")
    assert any(t["hash"].lower() == tx_hash(txs[0]).hex() for t in found_by_event)


def test_invalid_tx_is_rejected_by_check_tx_and_never_lands(net: Network) -> None:
    key = keys.SigningKey(secrets.token_bytes(32))
    good, _ = patient_tx(1, key)
    forged = bytearray(patient_tx(1, key)[0])
    forged[-3] ^= 0x01  # inside the signature
    replayed, _ = patient_tx(1, key)  # same signer and nonce as `good`, once it committed
    with net.rpc(0) as rpc:
        answer = rpc.broadcast_tx_sync(bytes(forged))
        assert answer["code"] != 0
        assert rpc.broadcast_tx_sync(good)["code"] == 0
        wait_committed(rpc, good)
        answer = rpc.broadcast_tx_sync(replayed)
        assert (answer["codespace"], answer["code"]) == ("tx", 6)  # nonce_replayed
        net.wait_height(rpc.height() + 3, 20)
    for index in range(4):
        with net.rpc(index) as rpc:
            assert rpc.tx(tx_hash(bytes(forged))) is None
            assert rpc.tx(tx_hash(replayed)) is None


class InjectingApplication(AbciApplication):
    """A misbehaving validator's app: its proposals carry a tx that fails."""

    bad_tx = b""
    injected = 0

    def prepare_proposal(self, req: pb.RequestPrepareProposal,
                         res: pb.ResponsePrepareProposal) -> None:
        super().prepare_proposal(req, res)
        res.txs.append(self.bad_tx)
        self.injected += 1


def _rejections(net: Network, index: int) -> int:
    log = (net.node_dir(index) / "logs" / "app.log").read_text()
    return log.count("rejecting proposal")


def test_proposal_with_an_invalid_tx_is_rejected(net: Network) -> None:
    bad, _ = patient_tx(2)  # nonce 2 of a new signer: nonce_skipped, always invalid
    before = [_rejections(net, i) for i in range(3)]
    net.stop_node(3)
    app = InjectingApplication.open(net.node_dir(3) / "app", state_writer=False)
    app.bad_tx = bad
    server = AbciServer(app, "127.0.0.1", net.nodes[3].abci_port)
    server.start()
    try:
        net.start_node(3, with_app=False)
        deadline = time.monotonic() + 60
        while app.injected < 1 or sum(_rejections(net, i) for i in range(3)) <= sum(before):
            assert time.monotonic() < deadline, "node3 never proposed, or nobody rejected it"
            time.sleep(0.2)
        start = max(heights(net, range(3)))
        net.wait_height(start + 2, 30)  # the chain goes on past the rejected proposal
    finally:
        net.stop_node(3)
        server.close()
        app.close()
    net.start_node(3)
    # start_node does not wait for CometBFT's RPC: node3 answers once it has caught up
    # with the blocks the others committed past the rejected proposal
    net.wait_height(start + 2, 60, nodes=[3])
    for index in range(4):
        with net.rpc(index) as rpc:
            assert rpc.tx(tx_hash(bad)) is None
    assert all(_rejections(net, i) > before[i] for i in range(3))


class Load:
    """Submits fresh patient registrations to nodes 0-2 until stopped."""

    def __init__(self, net: Network) -> None:
        self.net = net
        self.accepted: list[bytes] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Load:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        rpcs = [self.net.rpc(i, timeout=5.0) for i in range(3)]
        try:
            n = 0
            while not self._stop.is_set():
                raw, _ = patient_tx()
                try:
                    if rpcs[n % 3].broadcast_tx_sync(raw)["code"] == 0:
                        self.accepted.append(raw)
                except RpcError as exc:
                    self.errors.append(str(exc))
                n += 1
                time.sleep(0.01)
        finally:
            for rpc in rpcs:
                rpc.close()


def test_validator_killed_under_load_catches_up_and_nothing_is_lost(net: Network) -> None:
    with Load(net) as load:
        time.sleep(2)
        net.kill_node(3)  # SIGKILL: CometBFT and its app, mid-whatever
        killed_at = max(heights(net, range(3)))
        net.wait_height(killed_at + 5, 30, nodes=[0, 1, 2])  # 30 of 40 power: goes on
        reported: dict[bytes, int] = {}
        for i, raw in enumerate(list(load.accepted)):
            with net.rpc(i % 3) as rpc:
                found = rpc.tx(tx_hash(raw))
            if found is not None:
                reported[tx_hash(raw)] = int(found["height"])
        net.start_node(3)
        target = max(heights(net, range(3)))
        net.wait_height(target, 60, nodes=[3])
        time.sleep(1)
    assert not load.errors
    assert len(load.accepted) > 50 and reported
    with net.rpc(0) as rpc:  # every accepted tx commits (nothing silently dropped)
        for raw in load.accepted:
            wait_committed(rpc, raw)
    top = min(heights(net, range(4)))
    reference = header_app_hashes(net, 0, top)
    for index in range(1, 4):
        assert header_app_hashes(net, index, top) == reference
    with net.rpc(3) as rpc:  # what any node reported committed is on the restarted one
        for h, height in reported.items():
            found = rpc.tx(h)
            assert found is not None and int(found["height"]) == height
