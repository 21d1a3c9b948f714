"""What the CometBFT network tests share: the chain's settings, fresh signed txs, and
bounded waits and reads over the validators' RPC."""

from __future__ import annotations

import hashlib
import secrets
import time
from typing import Any

import pytest

from phrchain.client import builder
from phrchain.client.cometbft_rpc import CometRpc
from phrchain.client.wallet import KdfParams
from phrchain.core import keys
from phrchain.core.tx import build_tx
from phrchain.engine.abci.net import ConsensusTuning, Network, default_binary

MARKS = [  # every test module's pytestmark
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
