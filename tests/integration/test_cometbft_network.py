"""A real 4-validator CometBFT v0.38 network serving the phrchain application over ABCI.

One network (module fixture) runs the tests in file order: commit through different
validators, invalid txs, a proposer that includes an invalid tx, a validator SIGKILLed
under load and restarted, the light client against live nodes, and last, replaying every
block through the solo engine's application. Every wait is bounded; the fixture stops
every process it started, also when a test fails.

Needs the CometBFT binary (``scripts/test.sh`` builds it via ``scripts/cometbft.sh``);
without it these tests are skipped.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from phrchain.app import BlockInfo, new_application
from phrchain.client import builder
from phrchain.client.cometbft_rpc import CometRpc, RpcError
from phrchain.client.lightclient_cometbft import (
    parse_time,
    validator_set_from_genesis,
    verify_query_cometbft,
)
from phrchain.client.verify import query_key
from phrchain.client.wallet import KdfParams
from phrchain.core import keys
from phrchain.core.tx import build_tx
from phrchain.engine.abci import abci_pb2 as pb
from phrchain.engine.abci.adapter import AbciApplication
from phrchain.engine.abci.net import ConsensusTuning, Network, default_binary, init_network
from phrchain.engine.abci.server import AbciServer
from phrchain.modules.records.messages import size_bucket
from phrchain.storage.sqlite_state import SqliteStateStore

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not default_binary().exists(),
                       reason="no CometBFT binary: run scripts/cometbft.sh (Go >= 1.22)"),
]

CHAIN = "phr-net"
TUNING = ConsensusTuning(timeout_propose="1s", timeout_prevote="300ms",
                         timeout_precommit="300ms", timeout_commit="300ms")
CHEAP_KDF = KdfParams(memory_kib=1024, iterations=1)


def patient_tx(nonce: int = 1, key: keys.SigningKey | None = None) -> tuple[bytes, str]:
    """A signed ``register_patient`` tx of a fresh patient key: (raw, did)."""
    key = key or keys.SigningKey(secrets.token_bytes(32))
    enc = keys.EncryptionKey(secrets.token_bytes(32)).public_key
    return build_tx(key, CHAIN, nonce, [builder.register_patient(enc)]), key.did


def tx_hash(raw: bytes) -> bytes:
    return hashlib.sha256(raw).digest()


def wait_committed(rpc: CometRpc, raw: bytes, timeout: float = 20.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = rpc.tx(tx_hash(raw))
        if found is not None:
            return found
        time.sleep(0.1)
    raise AssertionError(f"tx {tx_hash(raw).hex()} not committed in {timeout} s")


def heights(net: Network, nodes: range | list[int]) -> list[int]:
    out = []
    for i in nodes:
        with net.rpc(i) as rpc:
            out.append(rpc.height())
    return out


def header_app_hashes(net: Network, index: int, upto: int) -> list[str]:
    """Header app hash of heights 1..upto on node ``index``."""
    with net.rpc(index) as rpc:
        return [rpc.block(h)["block"]["header"]["app_hash"] for h in range(1, upto + 1)]


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    home = tmp_path_factory.mktemp("cometbft-net")
    network = init_network(home, 4, "test passphrase", CHAIN, tuning=TUNING, kdf=CHEAP_KDF)
    try:
        network.up(timeout=60)
        yield network
    finally:
        for index in range(4):
            network.kill_node(index)


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


def test_light_client_verifies_live_answers(net: Network) -> None:
    raw, did = patient_tx()
    with net.rpc(1) as rpc:
        assert rpc.broadcast_tx_sync(raw)["code"] == 0
        height = int(wait_committed(rpc, raw)["height"])
    net.wait_height(height + 1, 20)
    validators = validator_set_from_genesis(net.genesis())
    expected_key = query_key("identity/did", {"did": did})
    for index in range(4):  # any node's answer, proven by any node's commit
        with net.rpc(index) as rpc:
            answer = rpc.abci_query("identity/did", {"did": did}, height=height, prove=True)
        with net.rpc((index + 1) % 4) as rpc:
            signed_header = rpc.commit(height + 1)["signed_header"]
        value = verify_query_cometbft(answer, signed_header, validators, CHAIN,
                                      expected_key=expected_key)
        assert value["did"] == did and value["kind"] == "patient"


def test_light_client_detects_a_fork_signed_with_the_validators_real_keys(
        net: Network) -> None:
    """A witness serving a header with invented state, signed by three of the four
    validators' real consensus keys (a lunatic attack), is a fork; an honest one is not."""
    from phrchain.client.lightclient_detector import ForkDetected, WitnessedLightClient
    from phrchain.client.lightclient_skipping import RpcProvider, TrustedState
    from tests.forgery import ForgingProvider, cometbft_key, conflicting

    root, now = TrustedState.from_genesis(net.genesis()), time.time_ns()
    with net.rpc(0) as primary, net.rpc(1) as other, net.rpc(2) as honest:
        height = primary.height() - 1
        light = WitnessedLightClient(CHAIN, root, RpcProvider(primary), [RpcProvider(honest)])
        assert light.verify_to(height, now).hash.hex().upper() == \
            primary.commit(height)["signed_header"]["commit"]["block_id"]["hash"]
        forged = conflicting(RpcProvider(other).signed_header(height), {"app_hash": "66" * 32},
                             [cometbft_key(net, i) for i in (0, 1, 3)], CHAIN)
        witness = ForgingProvider(RpcProvider(other), {height: forged})
        light = WitnessedLightClient(CHAIN, root, RpcProvider(primary),
                                     [RpcProvider(honest), witness])
        with pytest.raises(ForkDetected, match="lunatic") as caught:
            light.verify_to(height, now)
    evidence = caught.value.evidence
    assert evidence.witness == forged and evidence.witness_index == 1
    assert evidence.primary["header"]["app_hash"] != "66" * 32
    assert len(evidence.double_signers) == 3


def test_audit_log_verifies_against_cometbft_commits(net: Network) -> None:
    """The audit log reader of the SDK and CLI works over CometBFT: every entry proven
    included, every head proven by a > 2/3 commit of the genesis validator set, and the
    heads consistent; a different validator set is refused."""
    from phrchain.client.anchors import CometAnchor
    from phrchain.client.audit import AuditReader
    from phrchain.client.lightclient_cometbft import Validator
    from phrchain.client.wallet import Wallet
    from phrchain.core.errors import ProofError
    from phrchain.engine.abci.remote import CometNode
    from tests.audit_entries import sealed
    from tests.world import sealed_size

    hospital = Wallet.load(net.home / "wallets" / "hospital.json", "test passphrase")
    patient_raw, patient = patient_tx()
    record = secrets.token_hex(16)
    size = sealed_size(300)[0]
    with net.rpc(0) as rpc:
        assert rpc.broadcast_tx_sync(patient_raw)["code"] == 0
        wait_committed(rpc, patient_raw)
        nonce = rpc.abci_query("identity/nonce", {"did": hospital.did})["value"]["last_nonce"]
        txs = [build_tx(hospital.signing_key, CHAIN, nonce + 1, [{
            "type": "records/register", "record": record, "patient": patient,
            "hash": secrets.token_hex(32), "size": size_bucket(size),
            "commitment": secrets.token_hex(32), "descriptor": secrets.token_hex(32)}])]
        for i in range(2):  # two audit batches, in separate blocks
            entries = [sealed(patient, hospital.did, record, hospital.did, reason="owner")
                       for _ in range(i + 1)]
            txs.append(build_tx(hospital.signing_key, CHAIN, nonce + 2 + i,
                                [{"type": "audit/append", "entries": entries}]))
        found_at = []
        for raw in txs:
            assert rpc.broadcast_tx_sync(raw)["code"] == 0, raw
            found = wait_committed(rpc, raw)
            assert found["tx_result"].get("code", 0) == 0, found
            found_at.append((int(found["height"]), hashlib.sha256(raw).hexdigest()))
    node = CometNode(net.nodes[1].rpc_url)
    try:
        # block results (with events) are served over CometBFT too: a vault follows
        # erasures through them
        for height, tx_hash in found_at:
            results = node.block_results(height)
            assert results is not None and tx_hash in [r["hash"] for r in results]
            assert all(r["code"] == 0 and r["events"] for r in results)
        assert node.block_results(10**9) is None
        with net.rpc(2) as rpc:
            anchor = CometAnchor.from_genesis(rpc, net.genesis())
            reader = AuditReader(node, patient, anchor)
            latest, heads, blocks = reader.verify_all()
            assert latest.size == 3 and len(blocks) == 2 and len(heads) >= 2
            log = AuditReader(node, patient, anchor).log()
            assert [e["index"] for e in log] == [0, 1, 2] and all(e["verified"] for e in log)
            assert all(e["sealed"] for e in log)  # proven without any key to open them
            impostors = [Validator(v.address, v.public_key, v.power * 2)
                         for v in anchor.validators]
            with pytest.raises(ProofError):
                AuditReader(node, patient, CometAnchor(rpc, impostors, CHAIN)).log()
    finally:
        node.close()


class WebSocket:
    """Just enough RFC 6455 (client side) to subscribe to CometBFT's /websocket."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=20)
        key = base64.b64encode(secrets.token_bytes(16)).decode()
        self.sock.sendall(f"GET /websocket HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                          f"Upgrade: websocket\r\nConnection: Upgrade\r\n"
                          f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
                          .encode())
        head = b""
        while b"\r\n\r\n" not in head:
            head += self.sock.recv(1)
        assert head.startswith(b"HTTP/1.1 101"), head

    def _exact(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            assert chunk, "websocket closed"
            data += chunk
        return data

    def send(self, message: dict[str, Any]) -> None:
        payload, mask = json.dumps(message).encode(), secrets.token_bytes(4)
        assert len(payload) < 65536
        length = bytes([0x80 | len(payload)]) if len(payload) < 126 else \
            bytes([0x80 | 126]) + len(payload).to_bytes(2, "big")
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(bytes([0x81]) + length + mask + masked)

    def receive(self) -> dict[str, Any]:
        while True:
            first, second = self._exact(2)
            length = second & 0x7F
            if length == 126:
                length = int.from_bytes(self._exact(2), "big")
            elif length == 127:
                length = int.from_bytes(self._exact(8), "big")
            payload = self._exact(length)
            if first & 0x0F == 1:  # a text frame (CometBFT sends one per message)
                message: dict[str, Any] = json.loads(payload)
                return message

    def close(self) -> None:
        self.sock.close()


def test_module_events_reach_websocket_subscribers(net: Network) -> None:
    raw, did = patient_tx()
    ws = WebSocket(net.nodes[2].rpc_port)
    try:
        ws.send({"jsonrpc": "2.0", "id": 1, "method": "subscribe", "params": {
            "query": f"tm.event='Tx' AND identity.registered.did='{did}'"}})
        assert ws.receive()["id"] == 1  # subscribed
        with net.rpc(0) as rpc:
            assert rpc.broadcast_tx_sync(raw)["code"] == 0
        event = ws.receive()["result"]
    finally:
        ws.close()
    assert event["events"]["identity.registered.did"] == [did]
    assert event["events"]["tx.hash"] == [tx_hash(raw).hex().upper()]


def test_a_claim_is_adjudicated_and_paid_alike_on_every_validator(net: Network) -> None:
    """Settlement and claims over CometBFT: mint, a product over code tags, enrolment, a
    record, a bill paid, a claim decided and paid in a block; every validator answers the
    same decision and balances (and the replay below re-executes these blocks)."""
    from phrchain.client.wallet import Wallet
    from tests.world import sealed_size

    def load(name: str) -> Wallet:
        return Wallet.load(net.home / "wallets" / f"{name}.json", "test passphrase")

    authority, hospital, insurer = load("authority"), load("hospital"), load("insurer")
    patient_key = keys.SigningKey(secrets.token_bytes(32))
    patient_raw, patient = patient_tx(key=patient_key)
    covered, other = secrets.token_hex(32), secrets.token_hex(32)
    product, record, bill, claim = (secrets.token_hex(16) for _ in range(4))
    commitment = secrets.token_hex(32)
    size = sealed_size(300)[0]

    def send(rpc: CometRpc, key: keys.SigningKey, *msgs: dict[str, Any]) -> None:
        nonce = rpc.abci_query("identity/nonce", {"did": key.did})["value"]["last_nonce"]
        raw = build_tx(key, CHAIN, nonce + 1, list(msgs))
        assert rpc.broadcast_tx_sync(raw)["code"] == 0, msgs
        found = wait_committed(rpc, raw)
        assert found["tx_result"].get("code", 0) == 0, found

    with net.rpc(0) as rpc:
        assert rpc.broadcast_tx_sync(patient_raw)["code"] == 0
        wait_committed(rpc, patient_raw)
        send(rpc, authority.signing_key,
             {"type": "settlement/mint", "to": insurer.did, "amount": 100_000,
              "currency": "EUR"},
             {"type": "settlement/mint", "to": patient, "amount": 5_000, "currency": "EUR"})
        send(rpc, insurer.signing_key, {
            "type": "claims/publish", "product": product, "name": "Cover", "currency": "EUR",
            "deductible": 100, "copay_bps": 1_000, "per_claim_limit": 50_000,
            "yearly_limit": 90_000, "waiting_ms": 0, "max_term_ms": 400 * 86_400_000,
            "covered": [covered], "excluded": [], "refer_above": 0,
            "review_window_ms": 86_400_000, "appeal_window_ms": 86_400_000})
        start = time.time_ns() // 1_000_000 + 3_000
        send(rpc, patient_key, {"type": "claims/enrol", "insurer": insurer.did,
                                "product": product, "start_ms": start,
                                "end_ms": start + 300 * 86_400_000})
        send(rpc, hospital.signing_key, {
            "type": "records/register", "record": record, "patient": patient,
            "hash": secrets.token_hex(32), "size": size_bucket(size),
            "commitment": commitment, "descriptor": secrets.token_hex(32)},
            {"type": "settlement/bill", "bill": bill, "patient": patient, "amount": 3_000,
             "currency": "EUR", "encounter": secrets.token_hex(32)})
        send(rpc, patient_key, {"type": "settlement/pay_bill", "bill": bill})
        while time.time_ns() // 1_000_000 < start + 1_500:
            time.sleep(0.1)
        send(rpc, patient_key, {
            "type": "claims/file", "claim": claim, "insurer": insurer.did,
            "product": product, "version": 1, "bill": bill,
            "service_ms": start + 500, "records": [{"record": record,
                                                    "commitment": commitment}],
            "lines": [{"tag": covered, "amount": 2_000}, {"tag": other, "amount": 1_000}],
            "amount": 3_000, "consent_end_ms": start + 86_400_000})
    answers = []
    for index in range(4):
        with net.rpc(index) as rpc:
            deadline = time.monotonic() + 20  # a validator may be a block behind
            while rpc.abci_query("claims/claim", {"claim": claim})["value"] is None:
                assert time.monotonic() < deadline, f"node {index} never saw the claim"
                time.sleep(0.1)
            answers.append((rpc.abci_query("claims/claim", {"claim": claim})["value"],
                            rpc.abci_query("settlement/balance",
                                           {"did": patient, "currency": "EUR"})["value"]))
    decided, balance = answers[0]
    # (2,000 covered - 100 deductible) x 90 % = 1,710; the uncovered line is left out.
    assert (decided["status"], decided["payout"], decided["payment"]) == \
        ("partial", 1_710, "paid")
    assert balance == 5_000 - 3_000 + 1_710
    assert all(a == answers[0] for a in answers), "validators disagree"


def test_replaying_the_blocks_through_the_solo_application_gives_the_same_app_hashes(
        net: Network, tmp_path: Path) -> None:
    genesis = net.genesis()
    seconds, nanos = parse_time(genesis["genesis_time"])
    store = SqliteStateStore(tmp_path / "state.db")  # the solo engine's store and app
    app = new_application(store)
    try:
        app.init_chain({"chain_id": genesis["chain_id"],
                        "genesis_time_ms": seconds * 1000 + nanos // 1_000_000,
                        "app_state": genesis["app_state"]})
        with net.rpc(0) as rpc:
            top = rpc.height() - 1  # the app hash after block top is in header top + 1
            assert top > 20
            with_txs = 0
            for height in range(1, top + 1):
                block = rpc.block(height)["block"]
                seconds, nanos = parse_time(block["header"]["time"])
                txs = rpc.block_txs(height)
                with_txs += bool(txs)
                result = app.finalize_block(
                    BlockInfo(height, seconds * 1000 + nanos // 1_000_000), txs)
                app.commit()
                results = rpc.block_results(height)
                assert [r.code for r in result.tx_results] == \
                    [r["code"] for r in results["txs_results"] or []]
                assert result.app_hash == base64.b64decode(results["app_hash"])
                next_header = rpc.block(height + 1)["block"]["header"]
                assert result.app_hash.hex().upper() == next_header["app_hash"], height
        assert with_txs >= 5
    finally:
        store.close()
