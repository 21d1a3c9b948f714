"""``phrchain vault verify`` for the research release store (``gateway/research_store.py``,
``<vault dir>/research``): read-only, the vault need not run. Findings (codes name the
dataset and part, never content):

- ``research/27 release_orphan``: a key file of a dataset with no prepared or released
  row (a preparation that failed or crashed before its row), a sealed package no row
  refers to (a crash between the two commits), a temporary key file;
- ``vault/16 store_damaged``: a row whose package is missing or not canonical JSON, a
  key file not of 32 bytes, or SQLite's integrity check.

Prepared rows past their expiry are a note: the running vault deletes them.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from phrchain.core import encoding
from phrchain.core.errors import EncodingError
from phrchain.gateway.research_store import DB_NAME, KEY_SIZE, KEYS_DIR, LEGACY_DIR
from phrchain.research.errors import RELEASE_ORPHAN
from phrchain.vault import errors
from phrchain.vault.check import Report, damaged, describe, open_read_only

DIRECTORY = "research"  # VaultConfig.directory / "research", as research_http opens it


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def check_research(home: Path, report: Report) -> None:
    directory = home / DIRECTORY
    datasets: set[str] = set()
    if (directory / DB_NAME).is_file():
        try:
            datasets = _check_db(directory / DB_NAME, report)
        except sqlite3.DatabaseError as exc:
            if not damaged(exc):
                raise
            report.add("research releases", errors.STORE_DAMAGED, f"SQLite: {describe(exc)}")
            return
    keys = directory / KEYS_DIR
    for path in sorted(keys.glob("*")) if keys.is_dir() else []:
        dataset = path.name.removesuffix(".key")
        if not path.name.endswith(".key"):
            report.add(f"research key file {path.name}", RELEASE_ORPHAN,
                       "an unfinished key write (the vault removes it when it opens)")
        elif path.stat().st_size != KEY_SIZE:
            report.add(f"research key of dataset {dataset}", errors.STORE_DAMAGED,
                       f"not a {KEY_SIZE}-byte key (truncated or altered)")
        elif dataset not in datasets \
                and not (directory / LEGACY_DIR / f"{dataset}.json").exists():
            report.add(f"research key of dataset {dataset}", RELEASE_ORPHAN,
                       "no prepared or released dataset uses it (the vault removes it "
                       "when the chain confirms it released nothing)")


def _check_db(path: Path, report: Report) -> set[str]:
    now_ms = _now_ms()
    with open_read_only(path) as db:
        lines = [str(r[0]) for r in db.execute("PRAGMA integrity_check(20)")]
        for line in lines if lines != ["ok"] else []:
            report.add("research releases", errors.STORE_DAMAGED,
                       f"SQLite integrity_check: {line}")
        rows = db.execute("SELECT r.dataset, r.part, r.status, r.expires_ms, p.data "
                          "FROM releases r LEFT JOIN packages p ON p.blob = r.blob"
                          ).fetchall()
        orphans = db.execute("SELECT COUNT(*) FROM packages WHERE blob NOT IN "
                             "(SELECT blob FROM releases)").fetchone()[0]
    expired = 0
    for dataset, part, status, expires_ms, data in rows:
        subject = f"research dataset {dataset} part {part}"
        try:
            whole = isinstance(encoding.decode(data), dict) if data is not None else False
        except EncodingError:
            whole = False
        if not whole:
            report.add(subject, errors.STORE_DAMAGED,
                       f"its sealed package ({status}) is missing or altered")
        expired += status == "prepared" and expires_ms <= now_ms
    if orphans:
        report.add("research releases", RELEASE_ORPHAN,
                   f"{orphans} sealed package(s) of no release (the vault removes them "
                   "when it opens)")
    if expired:
        report.notes.append(f"research releases: {expired} expired preparation(s); the "
                            "vault deletes them when it next opens, prepares or approves")
    report.notes.append(f"research releases: {len(rows)} prepared or released part(s)")
    return {str(r[0]) for r in rows}
