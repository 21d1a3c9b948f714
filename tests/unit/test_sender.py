"""The SDK's one send pipeline (``client/sender.py``) against a node double that keeps a
check state of nonces the way the app does: nonces counted locally and pipelined, a
re-sync on each kind of nonce refusal, and one error shape for every way a tx fails."""

from __future__ import annotations

from typing import Any

import pytest

from phrchain.client.http import ApiError
from phrchain.client.sender import NONCE_RETRIES, TxSender
from phrchain.client.wallet import Wallet
from phrchain.core.tx import decode_tx, tx_hash

WALLET = Wallet.from_secrets(bytes([7]) * 32, bytes([107]) * 32, "signer")
MSG = {"type": "consent/revoke", "consent": "ab" * 16}


class Node:
    """Committed nonces (what ``identity/nonce`` answers) and the check state's last
    accepted nonce, which runs ahead while txs wait in the mempool."""

    def __init__(self, committed: int = 0, in_mempool: int = 0) -> None:
        self.committed, self.check_last = committed, committed + in_mempool
        self.nonce_queries, self.accepted = 0, []
        self.result: dict[str, Any] = {"code": 0}
        self.status = "committed"

    def chain_id(self) -> str:
        return "test-chain"

    def next_nonce(self, did: str) -> int:
        assert did == WALLET.did
        self.nonce_queries += 1
        return self.committed + 1

    def submit(self, raw: bytes, wait: str) -> dict[str, Any]:
        nonce = decode_tx(raw).nonce
        if nonce <= self.check_last:
            raise ApiError(422, "tx", 6, "nonce_replayed", f"nonce {nonce}")
        if nonce > self.check_last + 1:
            raise ApiError(422, "tx", 7, "nonce_skipped", f"nonce {nonce}")
        self.check_last = nonce
        self.accepted.append((nonce, wait))
        done = wait == "commit"
        return {"hash": tx_hash(raw).hex(), "status": self.status if done else "pending",
                "result": self.result if done else None}

    def tx(self, hash_hex: str) -> dict[str, Any]:
        if self.status == "dropped":
            raise ApiError(404, "api", 4, "not_found", hash_hex)
        return {"hash": hash_hex, "status": self.status, "result": self.result}


def sender(node: Node) -> TxSender:
    return TxSender(node, WALLET, timeout=1.0)  # type: ignore[arg-type]


def test_many_txs_ask_the_nonce_once_and_go_out_pipelined() -> None:
    node, seen = Node(committed=4), []
    sender(node).send_many([[MSG]] * 3, seen.append, [32, 32, 5])
    assert node.nonce_queries == 1
    assert node.accepted == [(5, "check"), (6, "check"), (7, "commit")]
    assert seen == [32, 32, 5]


def test_the_count_carries_over_between_sends() -> None:
    node = Node()
    s = sender(node)
    s.send([MSG])
    s.send([MSG], wait="check")
    assert node.nonce_queries == 1 and [n for n, _ in node.accepted] == [1, 2]


def test_a_replayed_nonce_steps_past_txs_another_signer_has_in_the_mempool() -> None:
    node = Node(committed=3, in_mempool=2)  # e.g. the institution's vault, same key
    sender(node).send([MSG])
    assert node.accepted == [(6, "commit")]
    assert node.nonce_queries == 3  # the first guess, then one re-sync per refusal


def test_a_count_run_ahead_falls_back_to_the_committed_nonce() -> None:
    node = Node(committed=2)
    s = sender(node)
    s.send([MSG])
    node.check_last = node.committed = 2  # our tx 3 fell out of the mempool
    s.send([MSG])
    assert [n for n, _ in node.accepted] == [3, 3]


def test_nonce_trouble_that_never_clears_is_raised_after_bounded_retries(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("phrchain.client.sender.time.sleep", lambda _: None)
    node = Node(committed=0, in_mempool=10 * NONCE_RETRIES)
    node.next_nonce = lambda did: 1  # type: ignore[method-assign]
    with pytest.raises(ApiError) as refused:
        sender(node).send([MSG])
    assert (refused.value.codespace, refused.value.code) == ("tx", 6)
    assert node.accepted == []


def test_a_tx_committed_with_a_failing_result_is_its_error() -> None:
    node = Node()
    node.result = {"codespace": "consent", "code": 5, "log": "not yours"}
    with pytest.raises(ApiError) as failed:
        sender(node).send_many([[MSG], [MSG]])
    assert (failed.value.codespace, failed.value.code) == ("consent", 5)


def test_a_dropped_tx_is_not_committed() -> None:
    node = Node()
    node.status = "dropped"
    with pytest.raises(ApiError) as failed:
        sender(node).send_many([[MSG], [MSG]])
    assert (failed.value.codespace, failed.value.name) == ("client", "not_committed")
