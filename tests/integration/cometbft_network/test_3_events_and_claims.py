"""Module events reach CometBFT's websocket subscribers, and a claim is adjudicated and
paid alike on every validator."""

from __future__ import annotations

import base64
import json
import secrets
import socket
import time
from typing import Any

from phrchain.client.cometbft_rpc import CometRpc
from phrchain.core import keys
from phrchain.core.tx import build_tx
from phrchain.engine.abci.net import Network
from phrchain.modules.records.messages import size_bucket
from tests.integration.cometbft_network.network import (
    CHAIN,
    MARKS,
    patient_tx,
    tx_hash,
    wait_committed,
)

pytestmark = MARKS


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
    same decision and balances (and test_4_replay.py re-executes these blocks)."""
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
