"""Block headers of the embedded solo engine: hash-chained and signed by the proposer.

Header (canonical JSON, ``encoding.py``)::

    {"app_hash": hex, "chain_id": str, "height": int, "num_txs": int, "prev_hash": hex,
     "proposer": did:key, "results_root": hex, "time_ms": int, "tx_root": hex, "v": 1}

- ``tx_root``: RFC 9162 root over the block's raw txs (leaf data = tx bytes).
- ``results_root``: RFC 9162 root over the canonical tx results (``app.TxResult.leaf``).
- ``app_hash``: the state root *after* executing this block (solo executes before it
  seals a header; CometBFT headers carry the previous block's, see docs/architecture.md).
- block id = ``tagged_hash("phrchain/header/v1", canonical(header))``; the proposer signs
  ``domain_prefix("phrchain/header/sign/v1") || canonical(header)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from phrchain.core import encoding, keys, rfc9162
from phrchain.core.errors import CryptoError, EncodingError
from phrchain.core.hashing import domain_prefix, tagged_hash

HEADER_VERSION: Final = 1
GENESIS_PREV_HASH: Final = bytes(32)
_FIELDS: Final = frozenset({"app_hash", "chain_id", "height", "num_txs", "prev_hash",
                            "proposer", "results_root", "time_ms", "tx_root", "v"})


@dataclass(frozen=True, slots=True)
class Header:
    chain_id: str
    height: int
    time_ms: int
    prev_hash: bytes
    num_txs: int
    tx_root: bytes
    results_root: bytes
    app_hash: bytes
    proposer: str

    def to_json(self) -> dict[str, Any]:
        return {"app_hash": self.app_hash.hex(), "chain_id": self.chain_id,
                "height": self.height, "num_txs": self.num_txs,
                "prev_hash": self.prev_hash.hex(), "proposer": self.proposer,
                "results_root": self.results_root.hex(), "time_ms": self.time_ms,
                "tx_root": self.tx_root.hex(), "v": HEADER_VERSION}

    def canonical(self) -> bytes:
        return encoding.encode(self.to_json())

    def hash(self) -> bytes:
        return tagged_hash("phrchain/header/v1", self.canonical())

    def sign_bytes(self) -> bytes:
        return domain_prefix("phrchain/header/sign/v1") + self.canonical()

    @classmethod
    def from_json(cls, data: Any) -> Header:
        if not isinstance(data, dict) or set(data) != _FIELDS or data["v"] != HEADER_VERSION:
            raise EncodingError("not a version-1 block header")
        ints = ("height", "num_txs", "time_ms")
        if any(type(data[k]) is not int or data[k] < 0 for k in ints):
            raise EncodingError("header height, num_txs and time_ms must be integers >= 0")
        return cls(
            chain_id=str(data["chain_id"]), height=data["height"], time_ms=data["time_ms"],
            prev_hash=encoding.hex_bytes(data["prev_hash"], 32, "prev_hash"),
            num_txs=data["num_txs"], tx_root=encoding.hex_bytes(data["tx_root"], 32, "tx_root"),
            results_root=encoding.hex_bytes(data["results_root"], 32, "results_root"),
            app_hash=encoding.hex_bytes(data["app_hash"], 32, "app_hash"),
            proposer=str(data["proposer"]))


@dataclass(frozen=True, slots=True)
class SignedHeader:
    header: Header
    signature: bytes

    def to_json(self) -> dict[str, Any]:
        return {"header": self.header.to_json(), "signature": self.signature.hex()}

    @classmethod
    def from_json(cls, data: Any) -> SignedHeader:
        if not isinstance(data, dict) or set(data) != {"header", "signature"}:
            raise EncodingError("not a signed header")
        return cls(Header.from_json(data["header"]),
                   encoding.hex_bytes(data["signature"], 64, "signature"))

    def verify(self, proposer_key: bytes) -> None:
        """Raise :class:`CryptoError` unless the proposer's key signed this header."""
        if keys.did_from_public_key(proposer_key) != self.header.proposer:
            raise CryptoError("header proposer is not the expected validator")
        keys.verify(proposer_key, self.signature, self.header.sign_bytes())


def tx_root(txs: Sequence[bytes]) -> bytes:
    return rfc9162.root_from_leaf_hashes([rfc9162.leaf_hash(tx) for tx in txs])


def sign_header(key: keys.SigningKey, header: Header) -> SignedHeader:
    return SignedHeader(header, key.sign(header.sign_bytes()))
