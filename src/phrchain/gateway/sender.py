"""Flushes the journal's outbox to the chain, signed by the vault's institution.

Sealed audit entries (``vault/audit_seal.py``) go up to 64 (and 48 KiB) to an
``audit/append`` message (one message per tx keeps each tx under the size and
state-write limits); copy receipts go as ``exchange/received``. Sending is
at-least-once: the chain ignores an audit entry whose request it already logged, and a
receipt for a copy already recorded is refused as a no-op failure and dropped.

Register jobs (``records/register`` of records staff uploaded, v2) go first, up to
:data:`REGISTERS_PER_TX` messages to a tx, signed by the institution. A refused tx is
retried one message at a time, so one bad record cannot hold back the others; a record
the chain already holds exactly as journaled (a job sent again after a crash) counts
as committed.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Final

from phrchain.core import keys
from phrchain.core.errors import CodedError
from phrchain.core.tx import build_tx
from phrchain.gateway.chain import ChainPort
from phrchain.gateway.journal import Journal
from phrchain.modules.audit.messages import Append, Entry
from phrchain.modules.exchange.messages import Received

log = logging.getLogger(__name__)

AUDIT: Final = "audit"
RECEIPT: Final = "receipt"
REGISTER: Final = "register"
REGISTERS_PER_TX: Final = 32
ENTRIES_PER_TX: Final = 64
# Sealed entries are ~2 KiB each (more with many regulators): a tx of them stays under
# this many bytes of entries, well inside the chain's 64 KiB tx limit (core/tx.py).
TX_ENTRY_BYTES: Final = 48 * 1024
MAX_BATCH: Final = 16 * ENTRIES_PER_TX


class Sender:
    def __init__(self, journal: Journal, chain: ChainPort, org: str,
                 key: keys.SigningKey, interval_s: float = 0.2,
                 commit_timeout_s: float = 30.0) -> None:
        self.journal, self.chain, self.org, self.key = journal, chain, org, key
        self.interval_s, self.commit_timeout_s = interval_s, commit_timeout_s
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()  # one flush at a time (the thread or a caller)
        # The nonce after this sender's last flush, when every tx of it committed and
        # succeeded (None: ask the node). A tx signed elsewhere with the institution's key
        # meanwhile makes the next flush's first tx a refused replay (tx/6, retried:
        # the rows stay in the outbox), after which the node is asked again.
        self._nonce: int | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="vault-sender", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def poke(self) -> None:
        self._wake.set()

    def send_now(self, msgs: list[dict[str, Any]]) -> dict[str, Any]:
        """One tx of ``msgs`` signed by the institution, sent between flushes (same
        nonce sequence) and waited for: its committed result, or the refusal."""
        with self._lock:
            self._nonce = None
            nonce = self.chain.next_nonce(self.org)
            raw = build_tx(self.key, self.chain.chain_id, nonce, msgs, signer=self.org)
            check = self.chain.submit(raw)
            if check.get("code", 0) != 0:
                return check
            status = self.chain.wait(check["hash"], self.commit_timeout_s)
        result: dict[str, Any] = status.get("result") or {
            "code": -1, "codespace": "", "log": f"tx {status.get('status')}"}
        return result

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.interval_s)
            self._wake.clear()
            try:
                self.flush()
            except Exception as exc:  # keep trying: the outbox is durable
                log.warning("vault outbox flush failed: %s", type(exc).__name__)

    def flush(self) -> int:
        """Send everything pending now and wait for it to commit; returns how many
        outbox messages were settled (committed or rejected for good)."""
        with self._lock:
            settled = 0
            while True:
                batch = self.journal.pending(MAX_BATCH)
                if not batch:
                    return settled
                registers = [(seq, body) for seq, kind, body in batch if kind == REGISTER]
                if registers:  # before the audit entries that may name these records
                    settled += self._send_registers(registers)
                    batch = [row for row in batch if row[1] != REGISTER]
                if batch:
                    settled += self._send(batch)
                if self._stop.is_set():
                    return settled

    def _groups(self, batch: list[tuple[int, str, dict[str, Any]]]
                ) -> list[tuple[list[int], dict[str, Any]]]:
        groups: list[tuple[list[int], dict[str, Any]]] = []
        audits = []
        for seq, kind, body in batch:
            if kind != AUDIT:
                continue
            try:
                audits.append((seq, Entry.parse(body)))
            except CodedError as exc:  # not a sealed entry (a journal of a v1 chain)
                log.warning("vault outbox entry is not a sealed audit entry: %s", exc.error.name)
                self.journal.reject(seq, f"{exc.codespace}/{exc.code}")
        for part in _fitting(audits):
            groups.append(([s for s, _ in part],
                           Append(tuple(e for _, e in part)).to_msg()))
        for seq, kind, body in batch:
            if kind == RECEIPT:
                groups.append(([seq], Received(**body).to_msg()))
        return groups

    def _send(self, batch: list[tuple[int, str, dict[str, Any]]]) -> int:
        nonce = self.chain.next_nonce(self.org) if self._nonce is None else self._nonce
        self._nonce = None
        clean = True  # every tx accepted, committed and successful: nonce is the next
        sent: list[tuple[list[int], dict[str, Any], str]] = []
        groups = self._groups(batch)
        # The last tx (the only one, usually) is answered by the node when it commits:
        # one request instead of a submit and polls, where the port offers it (RemoteChain).
        at_commit = getattr(self.chain, "submit_and_wait", None)
        known: dict[str, dict[str, Any]] = {}
        for i, (seqs, msg) in enumerate(groups):
            raw = build_tx(self.key, self.chain.chain_id, nonce, [msg], signer=self.org)
            if at_commit is not None and i == len(groups) - 1:
                check, status = at_commit(raw, self.commit_timeout_s)
                if status is not None:
                    known[check["hash"]] = status
            else:
                check = self.chain.submit(raw)
            if check.get("code", 0) != 0:
                clean = False
                self._settle_refused(seqs, msg, check)
                continue
            sent.append((seqs, msg, check["hash"]))
            nonce += 1
        settled = 0
        for seqs, msg, tx_hash in sent:
            status = known.get(tx_hash) or self.chain.wait(tx_hash, self.commit_timeout_s)
            result = status.get("result") or {}
            if status.get("status") == "committed" and result.get("code", 0) == 0:
                self.journal.done(seqs)
                settled += len(seqs)
                continue
            clean = False
            if status.get("status") in ("committed", "dropped"):
                self._settle_refused(seqs, msg, result)
            # pending/unknown: stays in the outbox and is sent again (idempotent)
        if clean and sent:
            self._nonce = nonce
        return settled

    def _settle_refused(self, seqs: list[int], msg: dict[str, Any],
                        result: dict[str, Any]) -> None:
        """A refused batch: nonce trouble is retried later; otherwise send entries one
        by one so that one bad entry cannot hold back the others."""
        code = f"{result.get('codespace', '')}/{result.get('code', '')}"
        if _retryable(result):
            return
        if len(seqs) == 1:
            log.warning("vault outbox message refused by the chain: %s", code)
            self.journal.reject(seqs[0], code)
            return
        for seq, entry in zip(seqs, msg["entries"], strict=True):
            single = Append((Entry.parse(entry),)).to_msg()
            raw = build_tx(self.key, self.chain.chain_id, self.chain.next_nonce(self.org),
                           [single], signer=self.org)
            check = self.chain.submit(raw)
            status: dict[str, Any] = {"status": "refused", "result": check}
            if check.get("code", 0) == 0:
                status = self.chain.wait(check["hash"], self.commit_timeout_s)
            res: dict[str, Any] = status.get("result") or {}
            if status.get("status") == "committed" and res.get("code", 0) == 0:
                self.journal.done([seq])
            elif _retryable(res):
                continue  # stays in the outbox for the next flush
            elif status.get("status") in ("committed", "refused", "dropped"):
                self.journal.reject(seq, f"{res.get('codespace', '')}/{res.get('code', '')}")


    def _send_registers(self, rows: list[tuple[int, dict[str, Any]]]) -> int:
        self._nonce = None
        nonce = self.chain.next_nonce(self.org)
        sent: list[tuple[list[tuple[int, dict[str, Any]]], str]] = []
        refused: list[list[tuple[int, dict[str, Any]]]] = []
        for i in range(0, len(rows), REGISTERS_PER_TX):
            part = rows[i:i + REGISTERS_PER_TX]
            raw = build_tx(self.key, self.chain.chain_id, nonce, [m for _, m in part],
                           signer=self.org)
            check = self.chain.submit(raw)
            if check.get("code", 0) != 0:
                if not _retryable(check):
                    refused.append(part)
                continue
            sent.append((part, check["hash"]))
            nonce += 1
        settled = 0
        for part, tx_hash in sent:
            status = self.chain.wait(tx_hash, self.commit_timeout_s)
            result = status.get("result") or {}
            if status.get("status") == "committed" and result.get("code", 0) == 0:
                self.journal.done([seq for seq, _ in part])
                settled += len(part)
            elif status.get("status") in ("committed", "dropped") and not _retryable(result):
                refused.append(part)
        for part in refused:  # once nothing of ours is in flight: fresh nonces
            settled += self._registers_one_by_one(part)
        return settled

    def _registers_one_by_one(self, part: list[tuple[int, dict[str, Any]]]) -> int:
        """Each message of a refused register tx in its own tx: what commits is done, what
        the chain refuses for good is rejected with its code (the uploader's client reads
        it), what failed for a passing reason stays for the next flush. Returns how
        many were settled."""
        settled = 0
        for seq, msg in part:
            raw = build_tx(self.key, self.chain.chain_id, self.chain.next_nonce(self.org),
                           [msg], signer=self.org)
            check = self.chain.submit(raw)
            status: dict[str, Any] = {"status": "refused", "result": check}
            if check.get("code", 0) == 0:
                status = self.chain.wait(check["hash"], self.commit_timeout_s)
            res: dict[str, Any] = status.get("result") or {}
            if _retryable(res) or status.get("status") not in ("committed", "refused",
                                                                "dropped"):
                continue
            settled += 1
            if (status.get("status") == "committed" and res.get("code", 0) == 0) \
                    or self._already_registered(msg, res):
                self.journal.done([seq])
            else:
                code = f"{res.get('codespace', '')}/{res.get('code', '')}"
                log.warning("vault register job refused by the chain: %s", code)
                self.journal.reject(seq, code)
        return settled

    def _already_registered(self, msg: dict[str, Any], result: dict[str, Any]) -> bool:
        """A job sent again (after a crash between commit and journal): the chain holds
        the record exactly as this message describes it, kept by this institution."""
        if (result.get("codespace"), result.get("code")) != ("records", 3):
            return False
        found = self.chain.query("records/get", {"record": msg["record"]})
        return found is not None and found.get("custodian") == self.org and all(
            found.get(k) == msg[k] for k in ("patient", "hash", "size", "commitment",
                                            "descriptor"))


def _fitting(audits: list[tuple[int, Entry]]) -> list[list[tuple[int, Entry]]]:
    """Consecutive runs of entries, each at most ``ENTRIES_PER_TX`` entries and
    ``TX_ENTRY_BYTES`` bytes of encoded entries (one entry alone always forms a run)."""
    from phrchain.core import encoding

    runs: list[list[tuple[int, Entry]]] = []
    size = 0
    for seq, entry in audits:
        cost = len(encoding.encode(entry.to_json())) + 1
        if not runs or len(runs[-1]) == ENTRIES_PER_TX or size + cost > TX_ENTRY_BYTES:
            runs.append([])
            size = 0
        runs[-1].append((seq, entry))
        size += cost
    return runs


def _retryable(result: dict[str, Any]) -> bool:
    """Refused for a reason that says nothing about the entries: a nonce raced with
    another tx of the institution, a duplicate tx, a full mempool. Sent again later."""
    return result.get("codespace") == "tx" and result.get("code") in (6, 7, 13, 14)
