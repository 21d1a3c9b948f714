"""The SDK's one send pipeline: sign, submit, wait for commit, map errors.

A :class:`TxSender` sends for one wallet through one node. Every client of the SDK
(records, consent, exchange, claims, the portable import, ``NodeClient.send``) goes
through it, so there is one nonce strategy and one wait loop.

Nonces: the sender asks the node for the wallet's next nonce once, then counts locally,
so many txs can be pipelined (the node's check state accepts nonces n, n+1, … queued in
its mempool). A tx refused at check consumes nothing, so the counter only moves when a tx
is accepted. A nonce refusal means someone else signs with the same key (an
institution's vault, another process) or one of ours fell out of the mempool; the
refusal changed nothing, so the sender re-syncs and re-signs, a bounded number of
times with a short backoff:

- ``nonce_replayed``: the nonce is taken; step past it (the node's committed count
  lags behind txs still in the mempool, so take whichever is larger);
- ``nonce_skipped``: the local count ran ahead; fall back to the node's committed count.

Waiting: the last tx of a send is submitted with ``wait="commit"`` (the node holds the
answer until its block), the earlier ones with ``wait="check"``; anything still pending
after that is polled by :meth:`TxSender.wait`, the one bounded wait loop.

Errors: a refusal at check is the node's :class:`ApiError`; a tx committed with a
failing result becomes ``ApiError.from_result``; a tx dropped or not committed within
``timeout`` is ``ApiError`` ``client/3 not_committed``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final, Protocol

from phrchain.client import builder
from phrchain.client.errors import ApiError, Wait

if TYPE_CHECKING:
    from phrchain.client.wallet import Wallet

__all__ = ["NONCE_REPLAYED", "NONCE_RETRIES", "NONCE_SKIPPED", "Progress", "TxSender"]

Msg = Mapping[str, Any]
Progress = Callable[[int], None]
NONCE_RETRIES: Final = 20
NONCE_REPLAYED: Final = ("tx", 6)
NONCE_SKIPPED: Final = ("tx", 7)
COMMIT_TIMEOUT: Final = 60.0
_POLL_FIRST, _POLL_MAX = 0.01, 0.2


class TxNode(Protocol):
    """What the sender needs of a node (:class:`~phrchain.client.http.NodeClient`)."""

    def chain_id(self) -> str: ...

    def next_nonce(self, did: str) -> int: ...

    def submit(self, raw: bytes, wait: Wait = "commit") -> dict[str, Any]: ...

    def tx(self, hash_hex: str) -> dict[str, Any]: ...


class TxSender:
    """Sends txs signed by ``wallet`` through ``node``; see the module docstring."""

    def __init__(self, node: TxNode, wallet: Wallet,
                 timeout: float = COMMIT_TIMEOUT) -> None:
        self.node, self.wallet, self.timeout = node, wallet, timeout
        self._next_nonce: int | None = None

    def send(self, msgs: Sequence[Msg], wait: Wait = "commit") -> dict[str, Any]:
        """One tx of ``msgs``. With ``wait="commit"`` (the default) it returns once the
        tx committed successfully and raises otherwise; with ``"check"`` it returns as
        soon as the node accepted it into the mempool."""
        answer = self._submit(msgs, wait)
        if wait == "commit":
            answer = self._settled(answer)
        return answer

    def send_many(self, txs: Sequence[Sequence[Msg]], progress: Progress | None = None,
                  weights: Sequence[int] = ()) -> list[dict[str, Any]]:
        """Several txs with consecutive nonces, pipelined (nobody waits between them);
        then each is confirmed in order, raising on the first that failed.
        ``progress(weights[i])`` is called as tx ``i`` is confirmed."""
        answers = [self._submit(msgs, "commit" if i == len(txs) - 1 else "check")
                   for i, msgs in enumerate(txs)]
        settled = []
        for i, answer in enumerate(answers):
            settled.append(self._settled(answer))
            if progress is not None:
                progress(weights[i] if i < len(weights) else 1)
        return settled

    def wait(self, tx_hash: str) -> dict[str, Any]:
        """Poll the tx's status until it is no longer pending or ``timeout`` passes."""
        deadline, pause = time.monotonic() + self.timeout, _POLL_FIRST
        while True:
            try:
                status = self.node.tx(tx_hash)
            except ApiError as exc:
                if exc.status != 404:
                    raise
                return {"status": "dropped"}  # neither in the mempool nor in a block
            if status.get("status") not in ("pending", "unknown") \
                    or time.monotonic() > deadline:
                return status
            time.sleep(pause)
            pause = min(pause * 2, _POLL_MAX)

    # -- internals ---------------------------------------------------------------------
    def _submit(self, msgs: Sequence[Msg], wait: Wait) -> dict[str, Any]:
        chain_id = self.node.chain_id()
        for attempt in range(1, NONCE_RETRIES + 1):
            if self._next_nonce is None:
                self._next_nonce = self.node.next_nonce(self.wallet.did)
            nonce = self._next_nonce
            raw = builder.sign(self.wallet, chain_id, nonce, [dict(m) for m in msgs])
            try:
                answer = self.node.submit(raw, wait)
            except ApiError as exc:
                refusal = (exc.codespace, exc.code)
                if refusal not in (NONCE_REPLAYED, NONCE_SKIPPED) or attempt == NONCE_RETRIES:
                    raise
                committed = self.node.next_nonce(self.wallet.did)
                self._next_nonce = max(committed, nonce + 1) \
                    if refusal == NONCE_REPLAYED else committed
                time.sleep(0.02 * attempt)
                continue
            self._next_nonce = nonce + 1
            return answer
        raise AssertionError("unreachable")

    def _settled(self, answer: dict[str, Any]) -> dict[str, Any]:
        """``answer`` once its tx is committed successfully; else the error."""
        if answer.get("status") in ("pending", "unknown", None):
            answer = {**answer, **self.wait(str(answer["hash"]))}
        result = answer.get("result") or {}
        if answer.get("status") != "committed":
            raise ApiError(0, "client", 3, "not_committed",
                           f"tx {answer.get('hash')} is {answer.get('status')} "
                           f"after {self.timeout:g} s")
        if result.get("code", 0) != 0:
            raise ApiError.from_result(result)
        return answer
