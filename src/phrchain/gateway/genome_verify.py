"""``phrchain vault verify`` for the genome store (``genome/store.py``): read-only, the
vault need not run. For every active object: its file is there and of the registered
size, every segment hashes to its stored leaf, the leaves give the object's root, and
(with a node) the chain's record has that root, patient and commitment and is not
erased. Findings carry ``c4gh`` codes and name the object and segment, never content."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from phrchain.core import rfc9162
from phrchain.genome import errors
from phrchain.genome.crypt4gh import CIPHER_SEGMENT_SIZE
from phrchain.modules.records.messages import size_bucket
from phrchain.vault.check import ChainView, Report, damaged, describe, open_read_only

DIRECTORY = "genome"  # VaultConfig.directory / "genome", as gateway/genome.py opens it


def check_genome(home: Path, report: Report, chain: ChainView | None = None) -> None:
    directory = home / DIRECTORY
    if not (directory / "genome.sqlite3").is_file():
        return
    try:
        with open_read_only(directory / "genome.sqlite3") as db:
            rows = db.execute("SELECT record, patient, root, size, segments, commitment "
                              "FROM objects WHERE status = 'active'").fetchall()
            for record, patient, root, size, count, commitment in rows:
                leaves = [leaf for (leaf,) in db.execute(
                    "SELECT leaf FROM segments WHERE record = ? ORDER BY idx", (record,))]
                subject = f"genome object {record.hex()}"
                _check_object(directory / "objects" / f"{record.hex()}.c4gh", subject,
                              leaves, root, size, count, report)
                if chain is not None:
                    _check_chain(chain, subject, record.hex(), patient, root, size,
                                 commitment, report)
    except sqlite3.DatabaseError as exc:
        if not damaged(exc):
            raise
        report.add("genome store", errors.NOT_GENOME_OBJECT, f"SQLite: {describe(exc)}")
        return
    report.notes.append(f"genome store: {len(rows)} object(s) checked")


def _check_object(path: Path, subject: str, leaves: list[bytes], root: bytes, size: int,
                  count: int, report: Report) -> None:
    if len(leaves) != count or rfc9162.root_from_leaf_hashes(leaves) != root:
        report.add(subject, errors.BAD_PROOF, "its stored leaves do not give its root")
        return
    if not path.is_file() or path.stat().st_size != size:
        report.add(subject, errors.TRUNCATED, "its file is missing or not of its size")
        return
    with path.open("rb") as f:
        for index, leaf in enumerate(leaves):
            if rfc9162.leaf_hash(f.read(CIPHER_SEGMENT_SIZE)) != leaf:
                report.add(subject, errors.BAD_PROOF, f"segment {index} differs from its "
                           "leaf hash (altered bytes)")


def _check_chain(chain: ChainView, subject: str, record_hex: str, patient: str,
                 root: bytes, size: int, commitment: bytes, report: Report) -> None:
    found = chain.descriptor(record_hex)
    if found is None:
        report.add(subject, errors.NOT_GENOME_OBJECT, "not registered on chain (yet)")
    elif found.get("status") == "erased":
        report.add(subject, errors.NOT_GENOME_OBJECT, "erased on chain but still held: "
                   "the vault shreds it at its next erasure sync")
    elif (found.get("hash"), found.get("patient"), found.get("commitment"),
          found.get("size")) != (root.hex(), patient, commitment.hex(), size_bucket(size)):
        report.add(subject, errors.BAD_PROOF, "the chain's record describes other bytes")
