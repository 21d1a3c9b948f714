"""An edited database is caught: by ``verify``, at node start-up, and when a value is
served (issue: four flipped state bytes and a forged balance used to pass ``verify``)."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from phrchain.app import new_application
from phrchain.core.errors import STATE_CORRUPT, TxError
from phrchain.core.tx import build_tx
from phrchain.engine.abci.adapter import AbciApplication
from phrchain.engine.solo.home import NodeConfig, init_home
from phrchain.engine.solo.node import ChainError, SoloNode
from phrchain.engine.solo.verify import verify_chain
from phrchain.modules.identity.keeper import id_key
from phrchain.storage.integrity import StateIntegrityError
from phrchain.storage.sqlite_state import SqliteStateStore
from tests.helpers import CHAIN_ID, VALIDATOR, enc_key, genesis, signing_key

PATIENTS = [signing_key(700 + i) for i in range(12)]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    init_home(tmp_path / "node", genesis(), VALIDATOR.seed,
              NodeConfig(block_interval_ms=10, max_block_txs=5))
    node = SoloNode(tmp_path / "node")
    for i, key in enumerate(PATIENTS):
        raw = build_tx(key, CHAIN_ID, 1, [{"type": "identity/register_patient",
                                          "enc_key": enc_key(i)}])
        assert node.submit(raw).ok
    while node.produce_block():
        pass
    node.close()
    return tmp_path / "node"


def _db(home: Path, name: str) -> sqlite3.Connection:
    return sqlite3.connect(home / "data" / name, isolation_level=None)


def _flip_latest_value(home: Path, key: bytes) -> None:
    with _db(home, "state.db") as db:
        height, value = db.execute("SELECT height, value FROM kv WHERE key = ? "
                                   "ORDER BY height DESC LIMIT 1", (key,)).fetchone()
        edited = bytearray(value)
        edited[len(edited) // 2] ^= 0x01
        db.execute("UPDATE kv SET value = ? WHERE key = ? AND height = ?",
                   (bytes(edited), key, height))


def test_an_untouched_chain_verifies_and_starts(home: Path) -> None:
    assert verify_chain(home).ok
    SoloNode(home).close()


def test_an_edited_value_fails_verify_startup_and_serving(home: Path) -> None:
    key = id_key(PATIENTS[3].did)
    _flip_latest_value(home, key)
    report = verify_chain(home)
    assert not report.ok
    assert "state database differs" in report.reason and "kv" in report.reason
    with pytest.raises(ChainError, match="state database was altered"):
        SoloNode(home)
    # an engine that skipped the start-up check would still refuse to serve the value
    app = new_application(SqliteStateStore(home / "data" / "state.db"))
    with pytest.raises(TxError) as refused:
        app.query("identity/did", {"did": PATIENTS[3].did})
    assert refused.value.error is STATE_CORRUPT
    assert app.query("identity/did", {"did": PATIENTS[4].did})["value"] is not None


def test_an_old_version_edited_fails_verify(home: Path) -> None:
    with _db(home, "state.db") as db:
        key, height, value = db.execute(
            "SELECT key, height, value FROM kv WHERE value IS NOT NULL AND height = 1 "
            "LIMIT 1").fetchone()
        db.execute("UPDATE kv SET value = ? WHERE key = ? AND height = ?",
                   (value + b" ", key, height))
    assert "kv" in verify_chain(home).reason


def test_an_edited_tree_node_fails_verify(home: Path) -> None:
    with _db(home, "state.db") as db:
        version, node_hash, body = db.execute(
            "SELECT version, hash, body FROM nodes ORDER BY version DESC LIMIT 1").fetchone()
        edited = bytearray(body)
        edited[-1] ^= 0x80
        db.execute("UPDATE nodes SET body = ? WHERE version = ? AND hash = ?",
                   (bytes(edited), version, node_hash))
    report = verify_chain(home)
    assert not report.ok and "nodes" in report.reason


@pytest.mark.parametrize(("table", "column"), [("txs", "hash"), ("blocks", "hash")])
def test_an_edited_lookup_column_fails_verify(home: Path, table: str, column: str) -> None:
    with _db(home, "blocks.db") as db:
        (value,) = db.execute(f"SELECT {column} FROM {table} LIMIT 1").fetchone()  # noqa: S608
        edited = bytearray(value)
        edited[0] ^= 0xFF
        db.execute(f"UPDATE {table} SET {column} = ? WHERE {column} = ?",  # noqa: S608
                   (bytes(edited), value))
    report = verify_chain(home)
    assert not report.ok and "column" in report.reason, report.reason


def test_an_abci_app_refuses_an_edited_state(home: Path, tmp_path: Path) -> None:
    """CometBFT is told the stored root; a database whose values no longer hash to it
    must not be opened (same state layout as the solo node's)."""
    app_home = tmp_path / "abci"
    app_home.mkdir()
    shutil.copy(home / "data" / "state.db", app_home / "state.db")
    AbciApplication.open(app_home).close()
    edited = app_home / "state.db"
    with sqlite3.connect(edited, isolation_level=None) as db:
        key, height, value = db.execute(
            "SELECT key, height, value FROM kv WHERE value IS NOT NULL "
            "ORDER BY height DESC LIMIT 1").fetchone()
        db.execute("UPDATE kv SET value = ? WHERE key = ? AND height = ?",
                   (value[:-1] + bytes([value[-1] ^ 1]), key, height))
    with pytest.raises(StateIntegrityError, match="altered"):
        AbciApplication.open(app_home)
