"""The vault's stores beside its journal and record blobs, in a backup
(``storage/backup.py``): genome objects, research releases and their keys, SMART settings.

Each store is an index database plus files it points to, and each is copied **index
first, then only the files that copied index names**:

- ``genome/``: ``genome.sqlite3`` (online backup), then ``objects/<record>.c4gh`` of each
  object *active in the copy*. A put renames its object file into place before it turns
  its row active, so every active row of the copy has its file by then; a file put later
  has no row in the copy and is not copied (it would be an orphan). An object erased
  while the backup runs (its rows deleted, then its file zeroed and unlinked) is dropped
  from the copy, rows and file, so a restored index never points at a missing or zeroed
  file and an erasure is never undone.
- ``research/``: ``releases.sqlite3`` (online backup), then legacy ``datasets/*.json``,
  then ``keys/<dataset>.key`` of each dataset the copy (or a legacy package) names. A
  preparation writes its key before its row, so every row of the copy has its key by
  then; a key destroyed meanwhile (``destroy-key``) stays destroyed in the copy. A
  copied key must match the key commitment of its dataset's rows, or it is dropped (a
  key being overwritten by its destruction).
- ``smart.json``: SMART settings (written whole: temporary file and rename), copied as is.

Research dataset keys are secrets, as the node's ``validator_key.json``: as with it, a
backup holds them in clear with mode 0600 (directory 0700) and a restore gives them
0600 again; a backup directory must be kept as securely as the vault itself. Everything
is fsynced before the manifest is written. Nothing else under a vault directory is
needed to serve what the chain points to (docs/operations.md, "Backup and restore").
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Final

GENOME_DB: Final = "genome/genome.sqlite3"
RESEARCH_DB: Final = "research/releases.sqlite3"
SMART: Final = "smart.json"
KEYS: Final = "research/keys"
# in copy order: each store's index database, then the files it names
OPTIONAL_DBS: Final = (GENOME_DB, RESEARCH_DB)


def fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def copy_file(source: Path, target: Path) -> bool:
    """Copy ``source`` whole to a new file of mode 0600 (sealed objects and packages are
    ciphertext, keys are secrets: owner only), fsync it and its directory; False if
    ``source`` is gone."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        src = source.open("rb")
    except FileNotFoundError:
        return False
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    with src, os.fdopen(os.open(target, flags, 0o600), "wb") as dst:
        os.fchmod(dst.fileno(), 0o600)  # whatever the umask
        while block := src.read(1 << 20):
            dst.write(block)
        dst.flush()
        os.fsync(dst.fileno())
    fsync_path(target.parent)
    return True


def _connect(db: Path, live: bool) -> sqlite3.Connection:
    """Read-only on the live vault's file; read-write on a copy, whose last connection
    to close then removes its ``-wal``/``-shm`` (a backup holds whole database files)."""
    return sqlite3.connect(f"file:{db}?mode=ro", uri=True) if live else sqlite3.connect(db)


def _active(db: Path, live: bool) -> set[bytes]:
    with closing(_connect(db, live)) as conn:
        return {r for (r,) in conn.execute(
            "SELECT record FROM objects WHERE status = 'active'")}


def copy_genome(vault: Path, out: Path, copy_db: Callable[[Path, Path], None]) -> list[str]:
    """The genome store (module docstring); returns the objects erased meanwhile."""
    if not (vault / GENOME_DB).is_file():
        return []
    copy_db(vault / GENOME_DB, out / GENOME_DB)
    (out / "genome" / "objects").mkdir(parents=True, exist_ok=True)
    dropped: list[bytes] = []
    for record in sorted(_active(out / GENOME_DB, live=False)):
        name = f"genome/objects/{record.hex()}.c4gh"
        copied = copy_file(vault / name, out / name)
        # shred() deletes the rows before it zeroes the file: still active after the
        # copy means the copy read the object's bytes, not zeros
        if not copied or record not in _active(vault / GENOME_DB, live=True):
            (out / name).unlink(missing_ok=True)
            dropped.append(record)
    if dropped:
        with closing(sqlite3.connect(out / GENOME_DB)) as db, db:
            for table in ("objects", "segments", "packets"):
                db.executemany(f"DELETE FROM {table} WHERE record = ?",  # noqa: S608
                               [(r,) for r in dropped])
    return [r.hex() for r in dropped]


def copy_research(vault: Path, out: Path, copy_db: Callable[[Path, Path], None]) -> None:
    """The research release store and its dataset keys (module docstring); a vault
    with legacy packages only (no store yet) has those and their keys copied."""
    from phrchain.deid.pseudonyms import key_commitment

    commitments: dict[str, set[str]] = {}
    if (vault / RESEARCH_DB).is_file():
        copy_db(vault / RESEARCH_DB, out / RESEARCH_DB)
        with closing(_connect(out / RESEARCH_DB, live=False)) as db:
            for dataset, key in db.execute("SELECT dataset, key FROM releases"):
                commitments.setdefault(dataset, set()).add(key)
    legacy = sorted((vault / "research" / "datasets").glob("*.json"))
    if not commitments and not legacy:
        return
    for path in legacy:
        copy_file(path, out / "research" / "datasets" / path.name)
    legacy_names = {p.stem for p in legacy}
    keys = out / KEYS
    keys.mkdir(parents=True, exist_ok=True)
    os.chmod(keys, 0o700)
    for dataset in sorted(set(commitments) | legacy_names):
        target = keys / f"{dataset}.key"
        if not copy_file(vault / KEYS / f"{dataset}.key", target):
            continue  # destroyed (or never made): stays so
        expected = commitments.get(dataset)
        if expected is not None and key_commitment(target.read_bytes()) not in expected:
            target.unlink()
    fsync_path(keys)


def copy_settings(vault: Path, out: Path) -> None:
    if (vault / SMART).is_file():
        copy_file(vault / SMART, out / SMART)


def secure_restored(vault: Path) -> None:
    """Mode 0700/0600 for the restored research keys; fsync every restored file."""
    keys = vault / KEYS
    if keys.is_dir():
        os.chmod(keys, 0o700)
        for key in keys.iterdir():
            os.chmod(key, 0o600)
    fsync_tree(vault)


def fsync_tree(root: Path) -> None:
    """fsync every file and directory under ``root`` (a restore survives a crash)."""
    for directory, _, files in os.walk(root):
        for name in files:
            fsync_path(Path(directory) / name)
        fsync_path(Path(directory))
