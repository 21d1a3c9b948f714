"""The vault's durable research releases (``<vault dir>/research/``): what a prepared
release is between "prepare" and its manifest's commit, and what a released one serves.

- ``releases.sqlite3`` (WAL, ``synchronous=FULL``, ``secure_delete=ON``):
  ``packages`` blob id → the dataset sealed for the study's institute (ciphertext only:
  ``seal_for_study``'s JSON, files AES-GCM, the key HPKE-wrapped to the institute);
  ``releases`` one row per prepared or released part: dataset, part, the preparing
  officer, ``prepared``/``released``, the unsigned manifest (canonical JSON), study,
  configuration digest, key commitment, its blob, and ``expires_ms`` (wall clock of the
  vault: an edge may read clocks, the chain never).
- ``keys/<dataset>.key``: the dataset's 32-byte pseudonymisation key, written to a
  temporary file, fsynced and renamed (there whole or not at all).

Write order of a preparation: key file, package (committed), release row (committed).
A crash between two steps leaves no release: :meth:`ReleaseStore.recover` (at open)
deletes packages no row refers to and temporary key files; a key file of a dataset with
no row is an orphan the route removes once the chain confirms it released nothing
(:meth:`orphan_keys`, ``gateway/research_http.py``). A prepared row past ``expires_ms``
is deleted with its package (:meth:`expired`, :meth:`drop`). Logs carry counts only.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from phrchain.core import encoding

log = logging.getLogger(__name__)

DB_NAME: Final = "releases.sqlite3"
KEYS_DIR: Final = "keys"
LEGACY_DIR: Final = "datasets"     # sealed packages of releases made before this store
KEY_SIZE: Final = 32
PREPARED: Final = "prepared"
RELEASED: Final = "released"
SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS packages (blob BLOB PRIMARY KEY, data BLOB NOT NULL)
    WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS releases (
    blob BLOB PRIMARY KEY, dataset TEXT NOT NULL, part INTEGER NOT NULL,
    caller TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('prepared', 'released')),
    manifest BLOB NOT NULL, study TEXT NOT NULL, config TEXT NOT NULL, key TEXT NOT NULL,
    created_ms INTEGER NOT NULL, expires_ms INTEGER NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS releases_by_dataset ON releases (dataset, part);
CREATE UNIQUE INDEX IF NOT EXISTS releases_served ON releases (dataset, part)
    WHERE status = 'released';
"""


@dataclass(frozen=True, slots=True)
class Row:
    """One prepared or released part (its package is read with :meth:`package`)."""

    blob: bytes
    dataset: str
    part: int
    caller: str
    status: str
    manifest: dict[str, Any]
    study: str
    config: str
    key: str
    expires_ms: int


_SELECT: Final = ("SELECT blob, dataset, part, caller, status, manifest, study, config, key, "
                  "expires_ms FROM releases WHERE ")


def _row(values: tuple[Any, ...]) -> Row:
    blob, dataset, part, caller, status, manifest, study, config, key, expires = values
    return Row(bytes(blob), dataset, int(part), caller, status, encoding.decode(manifest),
               study, config, key, int(expires))


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class ReleaseStore:
    """Prepared and released research datasets of one vault (module docstring)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.keys = directory / KEYS_DIR
        self.keys.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._db = sqlite3.connect(directory / DB_NAME, check_same_thread=False,
                                   isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA secure_delete=ON")
        self._db.executescript(SCHEMA)
        self._lock = threading.Lock()
        self.recover()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # -- keys ---------------------------------------------------------------------------

    def key_path(self, dataset: str) -> Path:
        return self.keys / f"{dataset}.key"

    def key(self, dataset: str) -> bytes:
        """The dataset's key: created once (temporary file, fsync, rename), then read."""
        path = self.key_path(dataset)
        if not path.exists():
            tmp = self.keys / f"{dataset}.key.{os.getpid()}.{threading.get_ident()}.tmp"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(os.urandom(KEY_SIZE))
                out.flush()
                os.fsync(out.fileno())
            try:
                os.link(tmp, path)       # never replaces a key another thread wrote
            except FileExistsError:
                pass
            finally:
                tmp.unlink()
            _fsync_dir(self.keys)
        return path.read_bytes()

    def shred_key(self, dataset: str) -> bool:
        """Overwrite and remove the dataset's key file; False if there was none."""
        path = self.key_path(dataset)
        try:
            with open(path, "r+b") as out:
                out.write(os.urandom(max(KEY_SIZE, path.stat().st_size)))
                out.flush()
                os.fsync(out.fileno())
        except FileNotFoundError:
            return False
        path.unlink()
        _fsync_dir(self.keys)
        return True

    def orphan_keys(self) -> list[str]:
        """Datasets with a key file here and no prepared or released row (nor a
        package of a release from before this store)."""
        held = {p.name[:-len(".key")] for p in self.keys.glob("*.key")}
        with self._lock:
            known = {d for (d,) in self._db.execute("SELECT DISTINCT dataset FROM releases")}
        legacy = self.directory / LEGACY_DIR
        return sorted(d for d in held - known if not (legacy / f"{d}.json").exists())

    # -- releases -----------------------------------------------------------------------

    def put(self, dataset: str, part: int, caller: str, manifest: dict[str, Any],
            study: str, config: str, key: str, sealed: dict[str, Any], now_ms: int,
            ttl_ms: int) -> bytes:
        """Keep a prepared part: its package first, then its row (each committed); the
        caller's earlier preparations of the dataset are replaced. Returns its blob id."""
        blob = os.urandom(16)
        self._put_package(blob, encoding.encode(sealed))
        self._put_row(blob, dataset, part, caller, encoding.encode(manifest), study, config,
                      key, now_ms, now_ms + ttl_ms)
        return blob

    def _put_package(self, blob: bytes, data: bytes) -> None:
        with self._tx() as db:
            db.execute("INSERT INTO packages (blob, data) VALUES (?, ?)", (blob, data))

    def _put_row(self, blob: bytes, dataset: str, part: int, caller: str, manifest: bytes,
                 study: str, config: str, key: str, now_ms: int, expires_ms: int) -> None:
        with self._tx() as db:
            old = [b for (b,) in db.execute(
                "SELECT blob FROM releases WHERE dataset = ? AND status = 'prepared' "
                "AND (caller = ? OR part = ?)", (dataset, caller, part))]
            for b in old:
                self._delete(db, b)
            db.execute("INSERT INTO releases (blob, dataset, part, caller, status, "
                       "manifest, study, config, key, expires_ms, created_ms) VALUES "
                       "(?, ?, ?, ?, 'prepared', ?, ?, ?, ?, ?, ?)",
                       (blob, dataset, part, caller, manifest, study, config, key,
                        expires_ms, now_ms))

    @staticmethod
    def _delete(db: sqlite3.Connection, blob: bytes) -> None:
        db.execute("DELETE FROM releases WHERE blob = ?", (blob,))
        db.execute("DELETE FROM packages WHERE blob = ?", (blob,))

    def prepared(self, caller: str, dataset: str) -> Row | None:
        with self._lock:
            found = self._db.execute(
                _SELECT + "caller = ? AND dataset = ? AND "
                "status = 'prepared' ORDER BY created_ms DESC", (caller, dataset)).fetchone()
        return None if found is None else _row(found)

    def rows(self, dataset: str, part: int | None = None) -> list[Row]:
        with self._lock:
            found = self._db.execute(
                _SELECT + "dataset = ? AND (? IS NULL OR "
                "part = ?) ORDER BY created_ms", (dataset, part, part)).fetchall()
        return [_row(f) for f in found]

    def mark_released(self, blob: bytes) -> None:
        """The row's manifest is on chain: served from now on, never expires."""
        with self._tx() as db:
            db.execute("UPDATE releases SET status = 'released' WHERE blob = ?", (blob,))

    def package(self, blob: bytes) -> dict[str, Any] | None:
        with self._lock:
            found = self._db.execute("SELECT data FROM packages WHERE blob = ?",
                                     (blob,)).fetchone()
        value: dict[str, Any] | None = None if found is None else encoding.decode(found[0])
        return value

    def expired(self, now_ms: int) -> list[Row]:
        with self._lock:
            found = self._db.execute(
                _SELECT + "status = 'prepared' AND "
                "expires_ms <= ?", (now_ms,)).fetchall()
        return [_row(f) for f in found]

    def drop(self, blob: bytes) -> None:
        """Delete a prepared row and its package in one transaction."""
        with self._tx() as db:
            db.execute("DELETE FROM releases WHERE blob = ? AND status = 'prepared'", (blob,))
            if db.execute("SELECT 1 FROM releases WHERE blob = ?", (blob,)).fetchone() is None:
                db.execute("DELETE FROM packages WHERE blob = ?", (blob,))

    def recover(self) -> int:
        """At open: delete packages no row refers to (a crash between the package's
        commit and its row's) and temporary key files; returns how many were deleted."""
        with self._tx() as db:
            gone = db.execute("DELETE FROM packages WHERE blob NOT IN "
                              "(SELECT blob FROM releases)").rowcount
        for tmp in self.keys.glob("*.tmp"):
            tmp.unlink(missing_ok=True)
            gone += 1
        if gone:
            log.warning("research releases: %d unfinished write(s) removed at open", gone)
        return gone
