"""Backup and restore of a solo node's home (and its institution's vault) while they run.

Every database is SQLite; each is copied with SQLite's online backup (a consistent
snapshot of that one file, taken while the node keeps writing). Across files the order
makes the set consistent:

- the **state store before the block store**: the copy's blocks reach at least the
  copy's state, and a restored node replays the blocks its state lacks (the same
  start-up repair as after a crash between writing a block and its state), each block's
  header checking the replayed app hash;
- the vault's **journal before its blob store**: the journal's erasure height is at most
  the blobs' state, so a restored vault follows erasures again from there and shreds
  whatever was erased after the journal was copied (never the other way round, which
  would restore erased data and forget to shred it);
- then the vault's **other stores, each index database before the files it names**
  (genome objects; research releases and their dataset keys; ``storage/backup_vault.py``
  says why): a restored index never points at a missing object, and an object or key
  erased during the backup stays erased in it.

Layout of a backup directory::

    manifest.json                  what was copied: heights, and each file's SHA-256
    node/config/*.json             genesis, node config, validator key (mode 0600)
    node/data/state.db, blocks.db
    vault/gateway.sqlite3, vault/blobs/blobs.sqlite3      (with ``--vault``)
    vault/trial-documents/blobs.sqlite3                   (if the vault holds any)
    vault/genome/genome.sqlite3, vault/genome/objects/<record>.c4gh    (if any)
    vault/research/releases.sqlite3, research/datasets/*.json (legacy),
    vault/research/keys/<dataset>.key (mode 0600, secrets as the validator key)
    vault/smart.json                                      (if present)

Not copied: ``smart.sqlite3`` (SMART refresh tokens, stored hashed): a restored vault
has apps that kept a refresh token sign in again, rather than honouring tokens that a
backup kept alive.

A restore refuses a target that exists, checks every file against the manifest (and
refuses a file it does not list, but an empty ``-wal`` or a ``-shm``), copies,
fsyncs what it wrote, and checks that the state's stored values hash to its stored
root; starting the node then replays to the backup's block height. A vault loses what
it received after its backup (the records' chunks): the vault's own check (``phrchain
vault verify``) lists records the chain has and the vault lacks.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
from pathlib import Path
from typing import Any, Final

from phrchain.core.errors import PhrError
from phrchain.storage import backup_vault

# 1 since the first backups: the vault's newer stores are files added to the same layout
# (a backup without them restores as before), so the format did not change.
FORMAT: Final = 1
NODE_CONFIG: Final = ("genesis.json", "node.json", "validator_key.json")
PRIVATE: Final = frozenset({"validator_key.json"})
# In copy order (module docstring).
NODE_DBS: Final = ("state.db", "blocks.db")
VAULT_DBS: Final = ("gateway.sqlite3", "blobs/blobs.sqlite3")
# stores a vault opens on first use (gateway/trial_documents.py): copied when present
VAULT_OPTIONAL_DBS: Final = ("trial-documents/blobs.sqlite3",)


class BackupError(PhrError):
    """A backup or restore could not be made: missing files, a damaged copy, a target
    that exists."""


def _sqlite_copy(source: Path, target: Path) -> None:
    if not source.is_file():
        raise BackupError(f"{source} does not exist")
    target.parent.mkdir(parents=True, exist_ok=True)
    src = sqlite3.connect(source, timeout=30)
    try:
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)  # a consistent snapshot, while writers go on
        finally:
            dst.close()
    finally:
        src.close()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _heights(node: Path) -> dict[str, int]:
    from phrchain.storage.blocks import SqliteBlockStore
    from phrchain.storage.sqlite_state import SqliteStateStore

    state = SqliteStateStore(node / "data" / "state.db")
    blocks = SqliteBlockStore(node / "data" / "blocks.db")
    try:
        return {"state_height": state.version(), "blocks_height": blocks.height()}
    finally:
        state.close()
        blocks.close()


def backup(home: Path, out: Path, vault: Path | None = None) -> dict[str, Any]:
    """Copy a running node's ``home`` (and ``vault``, a vault directory) to ``out``, a
    new directory; return the manifest."""
    home, out = Path(home), Path(out)
    if out.exists():
        raise BackupError(f"{out} exists: back up into a new directory")
    out.mkdir(parents=True)
    node = out / "node"
    for name in NODE_CONFIG:
        source = home / "config" / name
        if not source.is_file():
            raise BackupError(f"{source} does not exist: is {home} a node's home?")
        target = node / "config" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
        if name in PRIVATE:
            os.chmod(target, 0o600)
    for name in NODE_DBS:
        _sqlite_copy(home / "data" / name, node / "data" / name)
    erased: list[str] = []
    if vault is not None:
        for name in VAULT_DBS:
            _sqlite_copy(Path(vault) / name, out / "vault" / name)
        for name in VAULT_OPTIONAL_DBS:
            if (Path(vault) / name).is_file():
                _sqlite_copy(Path(vault) / name, out / "vault" / name)
        erased = backup_vault.copy_genome(Path(vault), out / "vault", _sqlite_copy)
        backup_vault.copy_research(Path(vault), out / "vault", _sqlite_copy)
        backup_vault.copy_settings(Path(vault), out / "vault")
    heights = _heights(node)  # before hashing: opening a copy may checkpoint it
    files = {str(p.relative_to(out)): _sha256(p) for p in sorted(out.rglob("*"))
             if p.is_file() and not p.name.endswith(("-wal", "-shm"))}
    manifest = {"format": FORMAT, **heights, "vault": vault is not None, "files": files}
    if erased:
        manifest["erased_during_backup"] = erased
    backup_vault.fsync_tree(out)
    _write_synced(out / "manifest.json", json.dumps(manifest, indent=2, sort_keys=True))
    return manifest


def _write_synced(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    with tmp.open("w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    tmp.rename(path)
    backup_vault.fsync_path(path.parent)


def _check_files(backup_dir: Path, files: dict[str, str]) -> None:
    """Every listed file has its digest; any other file is an empty ``-wal`` or a
    ``-shm`` that SQLite left beside a copy (not restored): a file the manifest does not
    vouch for (say, a ``-wal`` that SQLite would apply to a restored database) is
    refused."""
    for name, digest in sorted(files.items()):
        path = backup_dir / name
        if not path.is_file() or _sha256(path) != digest:
            raise BackupError(f"{name} is missing or differs from the manifest")
    for path in sorted(backup_dir.rglob("*")):
        name = str(path.relative_to(backup_dir))
        if path.is_file() and name != "manifest.json" and name not in files and not (
                name.endswith("-shm") or (name.endswith("-wal") and not path.stat().st_size)):
            raise BackupError(f"{name} is not in the manifest")


def _unlisted(directory: str, names: list[str]) -> list[str]:
    return [n for n in names if n.endswith(("-wal", "-shm"))]


def restore(backup_dir: Path, home: Path, vault: Path | None = None) -> dict[str, Any]:
    """Make a node home (and a vault directory) from a backup; return its manifest."""
    from phrchain.storage.integrity import check_latest_state
    from phrchain.storage.sqlite_state import SqliteStateStore

    backup_dir, home = Path(backup_dir), Path(home)
    try:
        manifest: dict[str, Any] = json.loads((backup_dir / "manifest.json").read_text())
    except (OSError, ValueError) as exc:
        raise BackupError(f"{backup_dir} has no readable manifest.json: {exc}") from None
    if manifest.get("format") != FORMAT:
        raise BackupError(f"backup format {manifest.get('format')!r} is not {FORMAT}")
    for target in (home, vault):
        if target is not None and Path(target).exists():
            raise BackupError(f"{target} exists: restore into a new directory")
    if vault is not None and not manifest.get("vault"):
        raise BackupError("this backup holds no vault")
    _check_files(backup_dir, manifest["files"])
    shutil.copytree(backup_dir / "node", home, ignore=_unlisted)
    os.chmod(home / "config" / "validator_key.json", 0o600)
    if vault is not None:
        shutil.copytree(backup_dir / "vault", Path(vault), ignore=_unlisted)
        backup_vault.secure_restored(Path(vault))
    backup_vault.fsync_tree(home)
    state = SqliteStateStore(home / "data" / "state.db")
    try:
        if state.version() >= 0:
            check_latest_state(state, state.root())
    finally:
        state.close()
    return manifest
