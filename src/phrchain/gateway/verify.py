"""``phrchain vault verify``: check a vault's directory offline, record by record.

The blob store is checked by :func:`phrchain.vault.check.check_store` (chunks against
their leaf hashes and the record's RFC 9162 root, wrapped keys, rows of no record),
optionally against the chain through a node's API (descriptor, erasure, readers). The
journal (``gateway.sqlite3``, :mod:`phrchain.gateway.journal`) is checked here: SQLite
integrity, every outbox message a known kind holding canonical JSON, and what is still
waiting for the chain. Nothing is written; the vault need not be running (stop it for a
stable picture: a running vault may change rows while they are read).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from phrchain.client.http import NodeClient
from phrchain.core import encoding
from phrchain.core.errors import EncodingError
from phrchain.gateway.genome_verify import check_genome
from phrchain.gateway.journal import _SCHEMA as JOURNAL_SCHEMA
from phrchain.gateway.journal import DB_NAME as JOURNAL_DB
from phrchain.gateway.research_verify import check_research
from phrchain.gateway.sender import AUDIT, RECEIPT
from phrchain.vault import errors
from phrchain.vault.blobs import DB_NAME as BLOBS_DB
from phrchain.vault.check import (
    ChainView,
    Finding,
    Report,
    check_schema,
    check_store,
    damaged,
    describe,
    open_read_only,
)

BLOBS_DIR = "blobs"  # VaultConfig.directory / "blobs", as gateway.service opens it
TRIAL_DOCUMENTS_DIR = "trial-documents"  # gateway/trial_documents.py, once used


class NodeChainView:
    """The chain as a node's REST API answers (unproven: the operator's own node)."""

    def __init__(self, node: NodeClient) -> None:
        self.node = node
        self._identities: dict[str, bool] = {}

    def descriptor(self, record_hex: str) -> Mapping[str, Any] | None:
        value: Mapping[str, Any] | None = self.node.query("records/get",
                                                          {"record": record_hex})["value"]
        return value

    def is_identity(self, did: str) -> bool:
        if did not in self._identities:
            self._identities[did] = self.node.query("identity/did",
                                                    {"did": did})["value"] is not None
        return self._identities[did]


def verify_vault(home: Path, chain: ChainView | None = None) -> Report:
    """Every check of a vault directory ``home`` (``vault serve --home``)."""
    report = check_store(home / BLOBS_DIR / BLOBS_DB, chain)
    check_genome(home, report, chain)  # gateway/genome_verify.py
    check_research(home, report)  # gateway/research_verify.py
    documents = home / TRIAL_DOCUMENTS_DIR / BLOBS_DB
    if documents.is_file():
        # no chain view: trial documents are no records/ entries (a reader's SDK checks
        # them against trials/); chunks, roots, keys and SQLite integrity all the same
        held = check_store(documents)
        report.findings += [Finding(f"trial document store: {f.subject}", f.error, f.detail)
                            for f in held.findings]
        report.notes.append(f"trial documents: {held.records} held")
    journal = home / JOURNAL_DB
    if journal.is_file():
        _check_journal(journal, report)
    else:
        report.notes.append("no journal (gateway.sqlite3): this vault never served")
    return report


def _check_journal(path: Path, report: Report) -> None:
    with open_read_only(path) as db:
        try:
            check_schema(db, JOURNAL_SCHEMA, report, "journal")
            lines = [str(r[0]) for r in db.execute("PRAGMA integrity_check(20)")]
            for line in lines if lines != ["ok"] else []:
                report.add("journal", errors.STORE_DAMAGED, f"SQLite integrity_check: {line}")
            waiting = 0
            for seq, kind, body in db.execute("SELECT seq, kind, body FROM outbox"):
                waiting += 1
                _check_message(report, f"outbox message {seq}", kind, body)
            refused = db.execute("SELECT COUNT(*) FROM rejected").fetchone()[0]
        except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:
            if not damaged(exc):
                raise
            report.add("journal", errors.STORE_DAMAGED, f"SQLite: {describe(exc)}")
            return
    if waiting:
        report.notes.append(f"journal: {waiting} message(s) (audit entries, receipts) not "
                            "yet on chain; the vault sends them when it next runs")
    if refused:
        report.notes.append(f"journal: {refused} message(s) the chain refused for good, "
                            "kept for review (table rejected)")


def _check_message(report: Report, subject: str, kind: object, body: object) -> None:
    if kind not in (AUDIT, RECEIPT):
        report.add("journal", errors.STORE_DAMAGED, f"{subject}: unknown kind {kind!r}")
        return
    try:
        value = encoding.decode(body) if isinstance(body, bytes) else None
    except EncodingError:
        value = None
    if not isinstance(value, dict):
        report.add("journal", errors.STORE_DAMAGED, f"{subject}: its body is not canonical "
                   "JSON (altered bytes)")
