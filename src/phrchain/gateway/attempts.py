"""What strangers can write into a patient's audit log: a bounded amount.

Record ids are listable and a did:key costs nothing, so if every refusal of an
unregistered caller became an on-chain audit entry, anyone could fill any patient's log
(300 fresh keys, 300 entries in 11 s: issue 13, defect 2). The vault therefore audits

- every decision about a registered caller, exactly once (as always), and every permit;
- a stranger's (an unregistered did:key's) refusal on a record the first time that
  stranger is refused on that record within ``window_s``, and then only while the record
  has had fewer than ``audits_per_window`` strangers' refusals audited in the window;

and strangers together are held to one request rate (``rate_per_s``, ``burst``). So N
strangers hitting one record within an hour add at most ``audits_per_window`` (10)
entries to its patient's log, however large N is.

Nothing is hidden from the patient: every attempt not audited is counted, per record and
kind, in the journal, and the record's patient (or the institution) reads the counts
from the vault (``GET /v1/vault/attempts/{record}``). Kinds (:data:`KINDS`):
``unauthenticated`` (refused before the caller was known: bad signature, stale, replayed,
wrong vault, body mismatch, malformed headers), ``repeated`` (a stranger refused again
on a record already audited for it), ``over_budget`` (a stranger's refusal past the
record's audit budget) and ``rate_limited`` (strangers as one group over their rate).
Counts are kept in memory and written to the journal at each sync (every 2 s): a crash
loses at most that much of the count, never an audit entry.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Final

from phrchain.gateway.journal import Journal
from phrchain.gateway.ratelimit import TokenBucket

UNAUTHENTICATED: Final = "unauthenticated"
REPEATED: Final = "repeated"
OVER_BUDGET: Final = "over_budget"
RATE_LIMITED: Final = "rate_limited"
KINDS: Final = (UNAUTHENTICATED, REPEATED, OVER_BUDGET, RATE_LIMITED)
MAX_TRACKED: Final = 100_000  # (stranger, record) pairs and records remembered
MAX_PENDING: Final = 10_000  # counts held in memory before they are written


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


class Attempts:
    def __init__(self, journal: Journal, *, rate_per_s: float = 20.0, burst: int = 100,
                 audits_per_window: int = 10, window_s: float = 3600.0,
                 clock: Callable[[], float] = time.monotonic,
                 wall_ms: Callable[[], int] = wall_clock_ms) -> None:
        self.journal = journal
        self.audits_per_window, self.window_s = audits_per_window, window_s
        self._clock, self._wall_ms = clock, wall_ms
        self.shared_rate = TokenBucket.full(rate_per_s, burst, clock())
        self._audited: OrderedDict[tuple[str, str], float] = OrderedDict()  # → when
        self._budget: dict[str, tuple[float, int]] = {}  # record → (window start, used)
        self._pending: dict[tuple[str, str], tuple[int, int]] = {}  # → (count, last_ms)
        self._lock = threading.Lock()

    def admit_stranger(self) -> bool:
        """One request from an unregistered caller, against the strangers' shared rate;
        False when over it (the caller counts it on the record, if held)."""
        now = self._clock()
        with self._lock:
            return self.shared_rate.take(now)

    def audit_stranger(self, caller: str, record: str) -> bool:
        """Whether a stranger's refusal on ``record`` is audited; if not, it is counted
        (``repeated`` or ``over_budget``)."""
        now = self._clock()
        with self._lock:
            self._forget(now)
            if (caller, record) in self._audited:
                kind = REPEATED
            else:
                start, used = self._budget.get(record, (now, 0))
                if now - start >= self.window_s:
                    start, used = now, 0
                if used < self.audits_per_window:
                    self._budget[record] = (start, used + 1)
                    self._audited[(caller, record)] = now
                    return True
                kind = OVER_BUDGET
        self.count(record, kind)
        return False

    def _forget(self, now: float) -> None:
        """Drop what is older than the window, and the oldest beyond the bound."""
        while self._audited:
            pair, when = next(iter(self._audited.items()))
            if now - when < self.window_s and len(self._audited) < MAX_TRACKED:
                break
            del self._audited[pair]
        if len(self._budget) >= MAX_TRACKED:
            self._budget = {r: b for r, b in self._budget.items()
                            if now - b[0] < self.window_s}
            while len(self._budget) >= MAX_TRACKED:
                del self._budget[next(iter(self._budget))]

    def count(self, record: str, kind: str) -> None:
        """One more unaudited attempt of ``kind`` on ``record``."""
        with self._lock:
            count, _ = self._pending.get((record, kind), (0, 0))
            self._pending[(record, kind)] = (count + 1, self._wall_ms())
            full = len(self._pending) >= MAX_PENDING
        if full:
            self.flush()

    def flush(self) -> None:
        """Write the counts held in memory to the journal."""
        with self._lock:
            pending, self._pending = self._pending, {}
        if pending:
            self.journal.add_attempts([(record, kind, count, last)
                                       for (record, kind), (count, last) in pending.items()])

    def of(self, record: str) -> dict[str, dict[str, int]]:
        """``{kind: {"count", "last_ms"}}`` for every kind (0 when none)."""
        self.flush()
        found = self.journal.attempts(record)
        return {kind: {"count": found.get(kind, (0, 0))[0],
                       "last_ms": found.get(kind, (0, 0))[1]} for kind in KINDS}
