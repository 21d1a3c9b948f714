"""The vault's durable journal: request nonces seen, and the outbox of messages (audit
entries, copy receipts) not yet committed on chain.

One SQLite file (``gateway.sqlite3``, WAL, ``synchronous=FULL``). A decision is released
only after its nonce and its audit entry are in one committed transaction: a crash after
release cannot lose the audit entry, and a replayed request cannot get a second answer.
The outbox is flushed to the chain in batches (:mod:`phrchain.gateway.sender`).

Group commit (:meth:`Journal.accept`): concurrent accesses share one transaction and so
one fsync. Each request queues its rows, then takes the journal's lock; whoever holds
it writes every queued request in one transaction (each in its own savepoint, so a
replayed nonce refuses only its own request) and commits; the others find their rows
already committed when they get the lock. Nobody returns before the commit that holds
its rows: the guarantee above is unchanged, only the fsync is shared. One answer that
carries several decisions (a FHIR search page) journals them together
(:meth:`Journal.deferred`): committed in one transaction before that answer leaves.

It also keeps the height up to which erasures were followed (``progress``, so a restart
resumes, :mod:`phrchain.gateway.erasures`), the record ids seen erased on the way (so a
late upload of one is refused), and the counts of attempts on a record that
were refused without an audit entry (``attempts``, :mod:`phrchain.gateway.attempts`).

Register jobs (v2, ``docs/records.md`` "Registration by the vault"): a custody upload by
staff journals one ``records/register`` message per record in the outbox, atomically
with the request's nonce, and notes ``registrations`` (record → outbox seq, uploader).
A job's status follows from where its seq is: still in the outbox (pending), moved to
``rejected`` (refused, with the chain's code), or gone (committed). A crash after the
upload was accepted and before the tx committed leaves the job in the outbox: the
sender sends it again after the restart.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from phrchain.core import encoding
from phrchain.vault.gateway_errors import REPLAYED_REQUEST

DB_NAME: Final = "gateway.sqlite3"
_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS nonces (nonce TEXT PRIMARY KEY, caller TEXT NOT NULL,
                                   ts_ms INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS nonces_ts ON nonces (ts_ms);
CREATE TABLE IF NOT EXISTS outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT,
                                   kind TEXT NOT NULL, body BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS rejected (seq INTEGER PRIMARY KEY, kind TEXT NOT NULL,
                                     body BLOB NOT NULL, code TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS progress (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS attempts (record TEXT NOT NULL, kind TEXT NOT NULL,
                                     count INTEGER NOT NULL, last_ms INTEGER NOT NULL,
                                     PRIMARY KEY (record, kind));
CREATE TABLE IF NOT EXISTS erased (record TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS registrations (record TEXT PRIMARY KEY, seq INTEGER NOT NULL,
                                          caller TEXT NOT NULL);
"""


@dataclass(slots=True)
class _Queued:
    """One request's rows waiting for a group commit (:meth:`Journal.accept`)."""

    nonce: str
    caller: str
    ts_ms: int
    outbox: tuple[str, bytes] | None
    done: bool = False
    error: BaseException | None = None


class Journal:
    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(directory / DB_NAME, check_same_thread=False,
                                   isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()
        # a second connection for the early replay check (:meth:`seen`): WAL readers do
        # not wait for a writer, so a request's authentication never queues behind
        # another request's commit and its fsync
        self._reader = sqlite3.connect(directory / DB_NAME, check_same_thread=False,
                                       isolation_level=None)
        self._read_lock = threading.Lock()
        self._queue: list[_Queued] = []
        self._queue_lock = threading.Lock()
        self.commits = 0  # transactions written by accept (group commit: <= requests)
        self._local = threading.local()  # a thread's deferred accepts (:meth:`deferred`)

    def close(self) -> None:
        with self._read_lock:
            self._reader.close()
        with self._lock:
            self._db.close()

    def accept(self, nonce: str, caller: str, ts_ms: int,
               outbox: tuple[str, Mapping[str, Any]] | None = None) -> None:
        """Record a request's nonce (refusing a replay) and, atomically with it, one
        outbox message ``(kind, body)``; returns once they are committed (group
        commit, module docstring)."""
        item = _Queued(nonce, caller, ts_ms, None if outbox is None
                       else (outbox[0], encoding.encode(dict(outbox[1]))))
        deferred: list[_Queued] | None = getattr(self._local, "deferred", None)
        if deferred is not None:
            deferred.append(item)
            return
        self._commit_queued([item])

    def _commit_queued(self, items: list[_Queued]) -> None:
        """Queue ``items``, see them committed (by this thread or another's group),
        then raise the first one's refusal, if any."""
        with self._queue_lock:
            self._queue.extend(items)
        with self._lock:
            if not items[-1].done:  # nobody committed them yet: commit everything queued
                with self._queue_lock:
                    batch, self._queue = self._queue, []
                self._commit(batch)
        for item in items:
            if item.error is not None:
                raise item.error

    @contextmanager
    def deferred(self) -> Iterator[None]:
        """Within the block, this thread's :meth:`accept` calls only queue their rows;
        the block's end commits them all in one transaction (one fsync) and raises the
        first refusal. For one answer that carries several decisions: the caller sends
        nothing of it before the block has ended without an error. Rows already
        queued are committed even when the block raises (the decisions were made)."""
        if getattr(self._local, "deferred", None) is not None:
            raise RuntimeError("journal: deferred blocks do not nest")
        items: list[_Queued] = []
        self._local.deferred = items
        try:
            yield
        finally:
            self._local.deferred = None
            if items:
                self._commit_queued(items)

    def _commit(self, batch: list[_Queued]) -> None:
        """One transaction for ``batch`` (under ``_lock``); each item's outcome set."""
        db = self._db
        try:
            db.execute("BEGIN IMMEDIATE")
            for item in batch:
                db.execute("SAVEPOINT item")
                try:
                    db.execute("INSERT INTO nonces VALUES (?, ?, ?)",
                               (item.nonce, item.caller, item.ts_ms))
                    if item.outbox is not None:
                        db.execute("INSERT INTO outbox (kind, body) VALUES (?, ?)",
                                   item.outbox)
                except sqlite3.IntegrityError:
                    db.execute("ROLLBACK TO item")
                    item.error = REPLAYED_REQUEST(f"nonce {item.nonce}")
                db.execute("RELEASE item")
            db.execute("COMMIT")
            self.commits += 1
        except BaseException as exc:
            if db.in_transaction:
                db.execute("ROLLBACK")
            for item in batch:
                item.error = item.error or exc
        finally:
            for item in batch:
                item.done = True

    def accept_registrations(self, nonce: str, caller: str, ts_ms: int, kind: str,
                             msgs: list[dict[str, Any]]) -> None:
        """Record a request's nonce and, atomically with it, one outbox message of
        ``kind`` per register message and its ``registrations`` row."""
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                self._db.execute("INSERT INTO nonces VALUES (?, ?, ?)", (nonce, caller, ts_ms))
                for msg in msgs:
                    seq = self._db.execute("INSERT INTO outbox (kind, body) VALUES (?, ?)",
                                           (kind, encoding.encode(dict(msg)))).lastrowid
                    self._db.execute("INSERT OR REPLACE INTO registrations VALUES (?, ?, ?)",
                                     (msg["record"], seq, caller))
                self._db.execute("COMMIT")
            except sqlite3.IntegrityError:
                self._db.execute("ROLLBACK")
                raise REPLAYED_REQUEST(f"nonce {nonce}") from None
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def registrations(self, records: list[str]) -> dict[str, tuple[str, str, str]]:
        """``{record: (status, code, uploader)}`` of the register jobs of ``records``
        (status ``pending``, ``refused`` with the chain's code, or ``committed``);
        records never registered through this vault are left out."""
        out: dict[str, tuple[str, str, str]] = {}
        with self._lock:
            for record in records:
                row = self._db.execute("SELECT seq, caller FROM registrations WHERE record = ?",
                                       (record,)).fetchone()
                if row is None:
                    continue
                seq, caller = row
                if self._db.execute("SELECT 1 FROM outbox WHERE seq = ?",
                                    (seq,)).fetchone() is not None:
                    out[record] = ("pending", "", caller)
                    continue
                refused = self._db.execute("SELECT code FROM rejected WHERE seq = ?",
                                           (seq,)).fetchone()
                out[record] = ("refused", refused[0], caller) if refused is not None \
                    else ("committed", "", caller)
        return out

    def pending(self, limit: int) -> list[tuple[int, str, dict[str, Any]]]:
        with self._lock:
            rows = self._db.execute("SELECT seq, kind, body FROM outbox ORDER BY seq LIMIT ?",
                                    (limit,)).fetchall()
        return [(seq, kind, encoding.decode(body)) for seq, kind, body in rows]

    def done(self, seqs: list[int]) -> None:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany("DELETE FROM outbox WHERE seq = ?", [(s,) for s in seqs])
            self._db.execute("COMMIT")

    def reject(self, seq: int, code: str) -> None:
        """Move a message the chain refuses for good out of the outbox (kept for review)."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("INSERT INTO rejected SELECT seq, kind, body, ? FROM outbox "
                             "WHERE seq = ?", (code, seq))
            self._db.execute("DELETE FROM outbox WHERE seq = ?", (seq,))
            self._db.execute("COMMIT")

    def backlog(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])

    def rejected(self) -> list[tuple[str, dict[str, Any], str]]:
        with self._lock:
            rows = self._db.execute("SELECT kind, body, code FROM rejected ORDER BY seq")
            return [(kind, encoding.decode(body), code) for kind, body, code in rows]

    def forget_nonces_before(self, ts_ms: int) -> None:
        """Nonces older than the freshness window can go: such requests are refused as
        stale anyway."""
        with self._lock:
            self._db.execute("DELETE FROM nonces WHERE ts_ms < ?", (ts_ms,))

    def seen(self, nonce: str) -> bool:
        """Whether a nonce is already journaled: a replay refused before its body is
        read (:meth:`accept` stays the check that counts)."""
        with self._read_lock:
            return self._reader.execute("SELECT 1 FROM nonces WHERE nonce = ?",
                                        (nonce,)).fetchone() is not None

    def progress(self, name: str) -> int | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM progress WHERE name = ?",
                                   (name,)).fetchone()
        return None if row is None else int(row[0])

    def set_progress(self, name: str, value: int) -> None:
        with self._lock:
            self._db.execute("INSERT INTO progress VALUES (?, ?) ON CONFLICT (name) "
                             "DO UPDATE SET value = excluded.value", (name, value))

    def add_attempts(self, rows: list[tuple[str, str, int, int]]) -> None:
        """Add ``(record, kind, count, last_ms)`` to the running counts, in one
        transaction."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany(
                "INSERT INTO attempts VALUES (?, ?, ?, ?) ON CONFLICT (record, kind) DO "
                "UPDATE SET count = count + excluded.count, "
                "last_ms = max(last_ms, excluded.last_ms)", rows)
            self._db.execute("COMMIT")

    def attempts(self, record: str) -> dict[str, tuple[int, int]]:
        """``{kind: (count, last_ms)}`` of one record's unaudited attempts."""
        with self._lock:
            rows = self._db.execute("SELECT kind, count, last_ms FROM attempts "
                                    "WHERE record = ?", (record,)).fetchall()
        return {kind: (int(count), int(last)) for kind, count, last in rows}

    def note_erased(self, records: list[str]) -> None:
        with self._lock:
            self._db.executemany("INSERT OR IGNORE INTO erased VALUES (?)",
                                 [(r,) for r in records])

    def erased_among(self, records: list[str]) -> list[str]:
        """Which of ``records`` the erasure follower has seen erased on chain."""
        with self._lock:
            return [r for r in records if self._db.execute(
                "SELECT 1 FROM erased WHERE record = ?", (r,)).fetchone() is not None]
