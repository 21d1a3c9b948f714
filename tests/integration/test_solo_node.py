"""The embedded solo engine: blocks, durability order, restart recovery, verify."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from phrchain.core import encoding
from phrchain.core.tx import build_tx, tx_hash
from phrchain.engine.solo.home import NodeConfig, init_home
from phrchain.engine.solo.node import ChainError, SoloNode
from phrchain.engine.solo.verify import verify_chain
from tests.helpers import (
    AUTHORITY,
    CHAIN_ID,
    VALIDATOR,
    admit_org_msg,
    enc_key,
    genesis,
    signing_key,
)

CONFIG = NodeConfig(block_interval_ms=10, max_block_txs=50)


def _patients(n: int, start: int = 1000) -> list[bytes]:
    return [build_tx(signing_key(start + i), CHAIN_ID, 1,
                     [{"type": "identity/register_patient", "enc_key": enc_key(i)}])
            for i in range(n)]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    init_home(tmp_path / "node", genesis(), VALIDATOR.seed, CONFIG)
    return tmp_path / "node"


def test_blocks_are_cut_by_size_and_hash_chained(home: Path) -> None:
    node = SoloNode(home)
    raws = _patients(120)
    for raw in raws:
        assert node.submit(raw).ok
    while node.produce_block():
        pass
    assert node.blocks.height() == 3  # 50 + 50 + 20
    headers = node.blocks.headers(1, 3)
    assert [h.header.num_txs for h in headers] == [50, 50, 20]
    assert headers[1].header.prev_hash == headers[0].header.hash()
    assert headers[2].header.time_ms > headers[1].header.time_ms
    assert node.tx_status(tx_hash(raws[-1]))["status"] == "committed"
    node.close()
    assert verify_chain(home).ok


def test_background_loop_commits_and_duplicates_are_refused(home: Path) -> None:
    node = SoloNode(home)
    node.start()
    raw = _patients(1)[0]
    assert node.submit(raw).ok
    duplicate = node.submit(raw)
    assert (duplicate.codespace, duplicate.code) == ("tx", 13)
    status = node.wait_committed(tx_hash(raw), timeout=10)
    assert status["status"] == "committed" and status["result"]["code"] == 0
    replay = node.submit(raw)  # committed already: its nonce is used
    assert (replay.codespace, replay.code) == ("tx", 6)
    node.close()


def test_mempool_bound(home: Path) -> None:
    node = SoloNode(home, NodeConfig(mempool_max_txs=3))
    results = [node.submit(raw) for raw in _patients(5)]
    assert [r.ok for r in results] == [True, True, True, False, False]
    assert (results[3].codespace, results[3].code) == ("tx", 14)
    node.close()


def test_nonce_order_per_signer_in_mempool(home: Path) -> None:
    node = SoloNode(home)
    org = signing_key(5)
    first = build_tx(AUTHORITY, CHAIN_ID, 1, [admit_org_msg(org, "clinic", "A", enc_key(1))])
    third = build_tx(AUTHORITY, CHAIN_ID, 3, [{"type": "identity/revoke", "did": org.did,
                                               "reason": "unspecified"}])
    assert node.submit(first).ok
    assert node.submit(third).code == 7  # skipped: 2 is missing
    node.produce_block()
    assert node.query("identity/nonce", {"did": AUTHORITY.did})["value"]["last_nonce"] == 1
    node.close()


def test_crash_between_block_and_state_is_replayed(home: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    node = SoloNode(home)
    raws = _patients(10)
    for raw in raws:
        node.submit(raw)

    def crash() -> None:
        raise KeyboardInterrupt("simulated power loss after the block was stored")

    monkeypatch.setattr(node.app, "persist", crash)
    with pytest.raises(KeyboardInterrupt):
        node.produce_block()
    assert node.blocks.height() == 1 and node.state.version() == 0
    node.state.close()
    node.blocks.close()
    monkeypatch.undo()

    reopened = SoloNode(home)
    assert reopened.state.version() == 1
    assert reopened.tx_status(tx_hash(raws[0]))["status"] == "committed"
    header = reopened.header(1)
    assert header is not None and header.header.app_hash == reopened.state.root()
    reopened.close()
    assert verify_chain(home).ok


def test_restart_refuses_a_block_store_that_replays_to_another_hash(home: Path,
                                                                     monkeypatch) -> None:
    node = SoloNode(home)
    node.submit(_patients(1)[0])
    monkeypatch.setattr(node.app, "persist", lambda: (_ for _ in ()).throw(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        node.produce_block()
    node.state.close()
    node.blocks.close()
    monkeypatch.undo()
    db = sqlite3.connect(home / "data" / "blocks.db")
    stored = encoding.decode(db.execute("SELECT header FROM blocks").fetchone()[0])
    stored["header"]["app_hash"] = "00" * 32
    db.execute("UPDATE blocks SET header = ?", (encoding.encode(stored),))
    db.commit()
    db.close()
    with pytest.raises(ChainError, match="replaying block 1"):
        SoloNode(home)


@pytest.mark.parametrize("tamper", ["tx", "header_sig", "result", "link"])
def test_verify_reports_first_bad_height(home: Path, tamper: str) -> None:
    node = SoloNode(home)
    raws = _patients(30)
    for i in range(0, 30, 10):
        for raw in raws[i:i + 10]:
            node.submit(raw)
        node.produce_block()
    node.close()
    assert verify_chain(home).ok
    db = sqlite3.connect(home / "data" / "blocks.db")
    if tamper == "tx":
        raw = db.execute("SELECT raw FROM txs WHERE height = 2 AND idx = 0").fetchone()[0]
        db.execute("UPDATE txs SET raw = ? WHERE height = 2 AND idx = 0", (raw + b" ",))
    elif tamper == "result":
        db.execute("UPDATE txs SET result = ? WHERE height = 2 AND idx = 1",
                   (encoding.encode({"code": 0}),))
    else:
        row = db.execute("SELECT header FROM blocks WHERE height = 2").fetchone()[0]
        signed = encoding.decode(row)
        if tamper == "header_sig":
            signed["signature"] = "00" * 64
        else:
            signed["header"]["prev_hash"] = "11" * 32
        db.execute("UPDATE blocks SET header = ? WHERE height = 2", (encoding.encode(signed),))
    db.commit()
    db.close()
    report = verify_chain(home)
    assert not report.ok and report.first_bad_height == 2, report
