"""Bounded FIFO mempool with de-duplication.

Per-signer nonce order falls out of admission: a tx is admitted only if ``check_tx``
accepts it against the check state, which already holds every earlier admitted tx, so
a signer's txs enter (and leave) in nonce order."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable


class Mempool:
    def __init__(self, max_txs: int, max_bytes: int) -> None:
        self.max_txs = max_txs
        self.max_bytes = max_bytes
        self._txs: OrderedDict[bytes, bytes] = OrderedDict()  # hash -> raw
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._txs)

    def __contains__(self, tx_hash: bytes) -> bool:
        return tx_hash in self._txs

    def has_room(self, raw: bytes) -> bool:
        return len(self._txs) < self.max_txs and self._bytes + len(raw) <= self.max_bytes

    def add(self, tx_hash: bytes, raw: bytes) -> None:
        self._txs[tx_hash] = raw
        self._bytes += len(raw)

    def reap(self, max_txs: int, max_bytes: int) -> list[tuple[bytes, bytes]]:
        """The oldest txs, in admission order, within both limits (at least one)."""
        out: list[tuple[bytes, bytes]] = []
        size = 0
        for tx_hash, raw in self._txs.items():
            if len(out) >= max_txs or (out and size + len(raw) > max_bytes):
                break
            out.append((tx_hash, raw))
            size += len(raw)
        return out

    def remove(self, hashes: Iterable[bytes]) -> None:
        for tx_hash in hashes:
            raw = self._txs.pop(tx_hash, None)
            if raw is not None:
                self._bytes -= len(raw)

    def drain(self) -> list[tuple[bytes, bytes]]:
        """Take everything out (for re-checking after a block)."""
        items = list(self._txs.items())
        self._txs.clear()
        self._bytes = 0
        return items
