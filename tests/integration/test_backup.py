"""Backup of a running solo node (and a vault directory) and restore into a new home:
the restored node replays the blocks its state copy lacks and reaches the original's
app hash at the backup's height; damaged or misdirected restores are refused."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from phrchain import testing
from phrchain.core import keys
from phrchain.core.tx import build_tx
from phrchain.engine.solo.home import NodeConfig, init_home
from phrchain.engine.solo.node import SoloNode
from phrchain.gateway.journal import Journal
from phrchain.storage.backup import BackupError, backup, restore
from phrchain.vault.blobs import BlobStore

VALIDATOR = keys.SigningKey(bytes([9]) * 32)
CHAIN = testing.CHAIN_ID


def _patient_tx(n: int) -> bytes:
    key = keys.SigningKey(n.to_bytes(32, "big"))
    return build_tx(key, CHAIN, 1, [{"type": "identity/register_patient",
                                     "enc_key": testing.enc_key(n)}])


def _wait_height(node: SoloNode, height: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while node.state.version() < height:
        assert time.monotonic() < deadline, f"height {height} not reached"
        time.sleep(0.02)


def test_backup_while_running_then_restore_replays_to_the_same_app_hash(tmp_path: Path
                                                                        ) -> None:
    home = tmp_path / "home"
    genesis = {**testing.genesis(CHAIN), "validator": VALIDATOR.did}
    init_home(home, genesis, VALIDATOR.seed, NodeConfig(block_interval_ms=20,
                                                        state_writer=False))
    vault = tmp_path / "vault"
    BlobStore(vault / "blobs").close()
    Journal(vault).close()
    node = SoloNode(home)
    node.start()
    stop = threading.Event()

    def load() -> None:  # keeps the node writing while the backup is taken
        n = 1000
        while not stop.is_set():
            node.submit(_patient_tx(n))
            n += 1
            time.sleep(0.005)

    writer = threading.Thread(target=load)
    writer.start()
    try:
        _wait_height(node, 5)
        manifest = backup(home, tmp_path / "backup", vault=vault)
        _wait_height(node, manifest["blocks_height"] + 5)
    finally:
        stop.set()
        writer.join()
        node.close()
    assert manifest["state_height"] <= manifest["blocks_height"]
    assert "node/config/validator_key.json" in manifest["files"]
    assert "vault/blobs/blobs.sqlite3" in manifest["files"]
    assert (tmp_path / "backup" / "node" / "config" / "validator_key.json").stat().st_mode \
        & 0o777 == 0o600

    original = SoloNode(home)
    try:
        height = manifest["blocks_height"]
        expected = [original.state.root(h) for h in range(height + 1)]
    finally:
        original.close()
    restored_home, restored_vault = tmp_path / "restored", tmp_path / "restored-vault"
    assert restore(tmp_path / "backup", restored_home, restored_vault) == manifest
    assert (restored_vault / "blobs" / "blobs.sqlite3").is_file()
    restored = SoloNode(restored_home)  # recover(): replays what the state copy lacked
    try:
        assert restored.state.version() == height
        assert [restored.state.root(h) for h in range(height + 1)] == expected
    finally:
        restored.close()

    from phrchain.cli.main import main  # the same through the CLI
    assert main(["node", "restore", "--backup", str(tmp_path / "backup"), "--home",
                 str(tmp_path / "by-cli")]) == 0
    assert (tmp_path / "by-cli" / "data" / "state.db").is_file()
    assert main(["node", "restore", "--backup", str(tmp_path / "backup"), "--home",
                 str(tmp_path / "by-cli")]) == 2  # exists: one error line, exit code 2

    with pytest.raises(BackupError, match="exists"):
        restore(tmp_path / "backup", restored_home)
    with pytest.raises(BackupError, match="exists"):
        backup(home, tmp_path / "backup")
    damaged = tmp_path / "backup" / "node" / "data" / "blocks.db"
    damaged.write_bytes(damaged.read_bytes()[:-1] + b"\x00")
    with pytest.raises(BackupError, match="differs from the manifest"):
        restore(tmp_path / "backup", tmp_path / "again")
    assert not (tmp_path / "again").exists()
    manifest_path = tmp_path / "backup" / "manifest.json"
    manifest_path.write_text(json.dumps({**manifest, "format": 99}))
    with pytest.raises(BackupError, match="format"):
        restore(tmp_path / "backup", tmp_path / "again")
