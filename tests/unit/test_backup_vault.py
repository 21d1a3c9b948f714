"""What a backup copies of a vault's research directory and settings without a running
vault (``storage/backup_vault.py``): legacy packages with their keys (mode 0600), never
orphan or unfinished key files; a key that does not match its rows' commitment is left
out (a key being overwritten by its destruction)."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path

from phrchain.deid.pseudonyms import key_commitment
from phrchain.gateway.research_store import ReleaseStore
from phrchain.storage import backup_vault
from phrchain.storage.backup import _sqlite_copy


def _vault(tmp_path: Path) -> Path:
    vault = tmp_path / "vault"
    keys = vault / "research" / "keys"
    keys.mkdir(parents=True)
    (vault / "research" / "datasets").mkdir()
    (vault / "research" / "datasets" / "old.json").write_text(json.dumps({"files": {}}))
    for name in ("old.key", "orphan.key"):
        (keys / name).write_bytes(bytes(range(32)))
    (keys / "new.key.1.2.tmp").write_bytes(b"half")
    (vault / "smart.json").write_text("{}")
    return vault


def test_legacy_packages_and_their_keys_only(tmp_path: Path) -> None:
    vault, out = _vault(tmp_path), tmp_path / "out"
    backup_vault.copy_research(vault, out, _sqlite_copy)
    backup_vault.copy_settings(vault, out)
    copied = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert copied == ["research/datasets/old.json", "research/keys/old.key", "smart.json"]
    assert (out / "research/keys/old.key").stat().st_mode & 0o777 == 0o600
    assert (out / "research/keys").stat().st_mode & 0o777 == 0o700
    assert (out / "research/keys/old.key").read_bytes() == bytes(range(32))


def test_a_key_not_matching_its_rows_commitment_is_left_out(tmp_path: Path) -> None:
    vault = _vault(tmp_path)
    store = ReleaseStore(vault / "research")  # its recover() removes the .tmp key
    good = store.key("good")
    store.key("bad")
    store.close()
    with closing(sqlite3.connect(vault / "research" / "releases.sqlite3")) as db, db:
        for dataset, key in (("good", good), ("bad", bytes(32))):
            db.execute("INSERT INTO releases VALUES (?, ?, 1, 'x', 'released', x'', 's', "
                       "'c', ?, 0, 0)", (dataset.encode(), dataset, key_commitment(key)))
    out = tmp_path / "out"
    backup_vault.copy_research(vault, out, _sqlite_copy)
    assert sorted(p.name for p in (out / "research/keys").iterdir()) == ["good.key",
                                                                         "old.key"]
    assert (out / "research/keys/good.key").read_bytes() == good
    assert not list(out.rglob("*-wal")) and not list(out.rglob("*-shm"))
